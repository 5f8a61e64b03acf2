"""Fields a member must never set through the API or a portal form, and the reviewed exceptions.

An exception is an operation or form that writes such a field on purpose. API exceptions must be closed to
members: `test_privileged_fields.py` checks that a member gets 401/403/404 from each of them. Add an entry only
with its reason.
"""

from __future__ import annotations

PRIVILEGED = frozenset(
    {
        "amount",
        "applicant",
        "assignee",
        "author",
        "balance",
        "groups",
        "is_active",
        "is_staff",
        "is_superuser",
        "level",
        "member",
        "member_id",
        "owner",
        "owner_id",
        "points",
        "price",
        "role",
        "status",
        "stock",
        "user",
        "user_id",
    }
)

# "METHOD /path/" → (fields, why). Each is operator-only (or staff-only) and refused to members.
OPERATOR_ONLY_OPERATIONS: dict[str, tuple[frozenset[str], str]] = {
    "POST /api/v1/points/awards/": (frozenset({"amount", "member"}), "operators award points to a member"),
    "POST /api/v1/points/deductions/": (frozenset({"amount", "member"}), "operators deduct a member's points"),
    "POST /api/v1/badge-awards/grant/": (frozenset({"member"}), "operators grant a badge to a member"),
    "POST /api/v1/applications/{id}/decide/": (frozenset({"status"}), "operators decide on an application"),
    "POST /api/v1/feedback/{id}/status/": (frozenset({"status"}), "moderators move feedback through its workflow"),
    "PATCH /api/v1/feedback/{id}/": (frozenset({"assignee"}), "moderators triage feedback"),
    "POST /api/v1/tasks/{id}/assign/": (frozenset({"assignee"}), "operators assign follow-up tasks"),
    "POST /api/v1/external-identities/": (frozenset({"member"}), "integrations link a member's outside account"),
    "POST /api/v1/webhooks/subscriptions/": (frozenset({"is_active"}), "operators manage webhooks"),
    "PATCH /api/v1/webhooks/subscriptions/{id}/": (frozenset({"is_active"}), "operators manage webhooks"),
}

# "module.Form" → (fields, why), for portal (non-admin) forms.
REVIEWED_FORMS: dict[str, tuple[frozenset[str], str]] = {
    "feedback.views.items.FilterForm": (frozenset({"status"}), "a GET filter of the feedback list; writes nothing"),
    "analytics.forms.ScopeForm": (frozenset({"level"}), "a GET filter of the operator dashboard; writes nothing"),
}
