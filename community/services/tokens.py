"""API tokens: creating, revoking and scoping the bearer tokens integrations call the API with."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.models import ApiToken
from community.services.audit import audit_record, model_snapshot

TOKEN_PREFIX_LENGTH = 8


def api_token_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_token_clean_scopes(scopes: Iterable[str] | None) -> list[str]:
    """Known scope names, sorted and without repeats; an empty list means a full-access token."""
    from integrations import scopes as scope_registry

    cleaned = sorted({str(scope).strip() for scope in (scopes or [])})
    unknown = scope_registry.unknown(cleaned)
    if unknown:
        raise ServiceError(_("Unknown scope: %(scopes)s.") % {"scopes": ", ".join(unknown)}, field="scopes")
    return cleaned


def api_token_create(
    *, user: Any, name: str, expires_at: datetime | None = None, scopes: Iterable[str] | None = None
) -> tuple[ApiToken, str]:
    """Create a named token; returns it with the secret, which is shown once and never stored.

    `scopes` narrows what the token may do (see `integrations.scopes`); none means full access.
    """
    scopes = api_token_clean_scopes(scopes)
    name = name.strip()
    if not name:
        raise ServiceError(_("A token needs a name."), field="name")
    if len(name) > 100:
        raise ServiceError(_("Keep the name to 100 characters."), field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError(_("The expiry must be in the future."), field="expires_at")
    raw_key = f"hth_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name,
                    prefix=raw_key[4 : 4 + TOKEN_PREFIX_LENGTH],
                    key_hash=api_token_hash(raw_key),
                    expires_at=expires_at,
                    scopes=scopes,
                )
        except IntegrityError:
            raise ServiceError(_("You already have an active token with this name."), field="name") from None
        audit_record(actor=user, action="api_token.create", obj=token, after=model_snapshot(token))
    return token, raw_key


def api_token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            before = model_snapshot(token)
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(actor=actor, action="api_token.revoke", obj=token, before=before, after=model_snapshot(token))
    return token


def api_token_scopes_set(*, actor: Any, token: ApiToken, scopes: Iterable[str]) -> ApiToken:
    """Change what a token may do (its owner in the portal or API, an operator in the admin); audited."""
    cleaned = api_token_clean_scopes(scopes)
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            raise ServiceError(_("This token is revoked."), field="scopes")
        if token.scopes != cleaned:
            before = model_snapshot(token, ["scopes"])
            token.scopes = cleaned
            token.save(update_fields=["scopes"])
            audit_record(
                actor=actor, action="api_token.scopes_set", obj=token, before=before, after={"scopes": cleaned}
            )
    return token
