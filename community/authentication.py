from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from community.api.permissions import TokenHasScope, token_scope_allows
from community.models import ApiToken
from community.services import api_token_hash

# last_used_at is written at most this often per token, so a busy integration does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` (or `Token <token>`) with a named API token."""

    keywords = ("bearer", "token")

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header: give one token after the keyword."))
        raw_key = parts[1].decode(errors="replace")
        token = ApiToken.objects.select_related("user").filter(key_hash=api_token_hash(raw_key)).first()
        if token is None or not token.is_active or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked API token."))
        # Scopes are enforced here, once per request, so no API view can forget them (see integrations.scopes).
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if view is not None and not token_scope_allows(token, view, request.method):
            raise exceptions.PermissionDenied(TokenHasScope.message)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "community.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token created under Settings → API tokens: `Authorization: Bearer <token>` "
            "(`Token <token>` works too).",
        }
