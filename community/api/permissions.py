from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from community import roles


class IsOperator(BasePermission):
    message = "Only operators may do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return roles.is_operator(request.user)


class HasMemberProfile(BasePermission):
    """The account has a community profile (every member account does; a bare staff account may not)."""

    message = "This account has no member profile."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and hasattr(request.user, "member"))


# --- token scopes -----------------------------------------------------------------------------------------

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def required_scopes_for(view: Any, method: str) -> list[str] | None:
    """The scopes a token needs for this view and method, or None when the view declares none.

    A view declares `required_scopes` as a list (every method) or a dict looked up by the viewset action name,
    then the HTTP method ("get", "post" …), then "read" (GET/HEAD/OPTIONS) or "write", then "*".
    """
    from integrations.scopes import fallback_for

    declared = getattr(view, "required_scopes", None)
    if declared is None:
        cls = type(view)
        declared = fallback_for(f"{cls.__module__}.{cls.__qualname__}")
    if declared is None:
        return None
    if isinstance(declared, list | tuple):
        return list(declared)
    action = getattr(view, "action", None)
    for key in (action, method.lower(), "read" if method.upper() in READ_METHODS else "write", "*"):
        if key and key in declared:
            return list(declared[key])
    return None


def token_scope_allows(token: Any, view: Any, method: str) -> bool:
    """True unless a scoped token asks for a view outside its scopes (or one that declares none)."""
    granted = getattr(token, "scopes", None)
    if not granted:  # an unscoped token is a full-access token (see integrations.scopes)
        return True
    needed = required_scopes_for(view, method)
    if needed is None:
        return False
    return set(needed) <= set(granted)


class TokenHasScope(BasePermission):
    """Requests authenticated by a scoped API token need the view's `required_scopes`; sessions are unaffected.

    `ApiTokenAuthentication` applies the same check to every API view, so listing this class is optional; it
    documents the requirement where a view wants it visible.
    """

    message = _("This API token's scopes do not cover this endpoint.")

    def has_permission(self, request: Any, view: Any) -> bool:
        from community.models import ApiToken

        if not isinstance(request.auth, ApiToken):
            return True
        return token_scope_allows(request.auth, view, request.method)
