from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from community import roles, selectors


def portal(request: HttpRequest) -> dict[str, Any]:
    """Navigation facts every portal page needs: the member, their unread count, and staff access."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current_member": None, "unread_notifications": 0, "is_operator": False}
    member = getattr(user, "member", None)
    return {
        "current_member": member,
        "unread_notifications": selectors.notification_unread_count(member=member) if member else 0,
        "is_operator": roles.is_operator(user),
    }
