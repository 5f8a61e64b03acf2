from __future__ import annotations

from typing import Any

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
