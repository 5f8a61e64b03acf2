"""What the feedback API views share: who is asking, refusals as 400s, the scopes a token needs."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from community import roles
from community.errors import ServiceError

SCOPES = {"read": ["feedback:read"], "write": ["feedback:manage"]}


def viewer(request: Request) -> tuple[Any, bool]:
    """(the member asking or None, whether they are an operator)."""
    member = getattr(request.user, "member", None) if request.user.is_authenticated else None
    return member, roles.is_operator(request.user)


def is_moderator(user: Any) -> bool:
    return roles.user_has_role(user, roles.MODERATOR, roles.OPERATOR)


def refusal(error: ServiceError) -> Response:
    return Response({**error.as_dict(), "code": error.code}, status=status.HTTP_400_BAD_REQUEST)
