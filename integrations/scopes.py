"""What an API token may do: the scope set, and how an API view declares the scopes it needs.

A token with an empty `scopes` list is a full-access token (what every token was before scopes existed); a token
with scopes may reach only views whose declared scopes it holds. Scopes only narrow what the token's user may do:
a member's token with `points:award` still cannot award points, because the view also asks for an operator.

Views declare `required_scopes` (see `community.api.permissions.required_scopes_for`); views of apps that have not
declared theirs yet are covered by `FALLBACK_SCOPES` below, and a scoped token is refused anywhere neither says.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# name → label shown in the portal, the admin and the docs. Other apps add theirs with `register`.
SCOPES: dict[str, object] = {
    "members:read": _("Read members"),
    "members:write": _("Change members and their external identities"),
    "activity:read": _("Read the activity stream"),
    "events:write": _("Send product usage events"),
    "points:read": _("Read points, levels, badges, leaderboards and rewards"),
    "points:award": _("Award and deduct points, grant badges"),
    "checkins:write": _("Check in"),
    "rewards:redeem": _("Redeem rewards in the shop"),
    "feedback:read": _("Read feedback"),
    "feedback:manage": _("Submit and manage feedback"),
    "analytics:read": _("Read KPIs and reports"),
    "engage:read": _("Read community events, challenges and content"),
    "engage:write": _("Register for events and take part in challenges"),
    "notifications:read": _("Read notifications"),
    "notifications:write": _("Mark notifications read, change notification settings"),
    "webhooks:manage": _("Manage webhook subscriptions and see deliveries"),
    "exports:read": _("Download exports"),
    "tokens:manage": _("Manage API tokens"),
}

# Views that do not declare `required_scopes` themselves: by dotted class path first, then by the longest
# matching module prefix (ending in "."), as {"read"|"write"|<action>|<method>: [scopes]}.
FALLBACK_SCOPES: dict[str, dict[str, list[str]]] = {
    "members.": {"read": ["members:read"], "write": ["members:write"]},
    "feedback.": {"read": ["feedback:read"], "write": ["feedback:manage"]},
    "analytics.": {"read": ["analytics:read"]},
    "engage.": {"read": ["engage:read"], "write": ["engage:write"]},
    # The OpenAPI schema and its viewers: any token may read them.
    "drf_spectacular.": {"*": []},
}


def fallback_for(dotted_path: str) -> dict[str, list[str]] | None:
    if dotted_path in FALLBACK_SCOPES:
        return FALLBACK_SCOPES[dotted_path]
    prefixes = [key for key in FALLBACK_SCOPES if key.endswith(".") and dotted_path.startswith(key)]
    return FALLBACK_SCOPES[max(prefixes, key=len)] if prefixes else None


def register(name: str, label: object) -> None:
    """Add a scope (an app's AppConfig.ready()); names are `<noun>:<verb>`."""
    SCOPES.setdefault(name, label)


def choices() -> list[tuple[str, object]]:
    return list(SCOPES.items())


def unknown(scopes: list[str]) -> list[str]:
    return [scope for scope in scopes if scope not in SCOPES]
