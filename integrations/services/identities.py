"""External identities: which member a product user id, chat group id or CRM id belongs to."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import audit_record, model_snapshot
from integrations.models import ExternalIdentity
from members.models import Member

PROVIDER_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
FIELDS = ("member", "provider", "external_id", "handle")


def _clean(provider: Any, external_id: Any, handle: Any) -> tuple[str, str, str]:
    provider = str(provider or "").strip().lower()
    if not PROVIDER_RE.match(provider):
        raise ServiceError(
            _("A provider is 1 to 64 lower-case letters, digits and _ . - (e.g. product, wechat_group)."),
            field="provider",
        )
    external_id = str(external_id if external_id is not None else "").strip()
    if not external_id or len(external_id) > 191:
        raise ServiceError(_("An external id is 1 to 191 characters."), field="external_id")
    handle = str(handle or "").strip()
    if len(handle) > 191:
        raise ServiceError(_("Keep the handle to 191 characters."), field="handle")
    return provider, external_id, handle


def external_identity_link(
    *, actor: Any | None, member: Member, provider: str, external_id: str, handle: str = ""
) -> ExternalIdentity:
    """Link a member to an id in another system. Refused if that id already belongs to someone else."""
    provider, external_id, handle = _clean(provider, external_id, handle)
    existing = ExternalIdentity.objects.filter(provider=provider, external_id=external_id).first()
    if existing is not None:
        if existing.member_id != member.pk:
            raise ServiceError(_("This external id is already linked to another member."), field="external_id")
        if existing.handle == handle:
            return existing
        return external_identity_update(actor=actor, identity=existing, handle=handle)
    try:
        with transaction.atomic():
            identity = ExternalIdentity.objects.create(
                member=member, provider=provider, external_id=external_id, handle=handle
            )
            audit_record(actor=actor, action="external_identity.link", obj=identity, after=model_snapshot(identity))
    except IntegrityError:  # a concurrent link of the same id won
        raise ServiceError(_("This external id is already linked to another member."), field="external_id")
    return identity


def external_identity_update(*, actor: Any | None, identity: ExternalIdentity, handle: str) -> ExternalIdentity:
    _provider, _external_id, handle = _clean(identity.provider, identity.external_id, handle)
    with transaction.atomic():
        identity = ExternalIdentity.objects.select_for_update().get(pk=identity.pk)
        before = model_snapshot(identity, FIELDS)
        identity.handle = handle
        identity.save(update_fields=["handle"])
        audit_record(
            actor=actor, action="external_identity.update", obj=identity, before=before, after=model_snapshot(identity)
        )
    return identity


def external_identity_unlink(*, actor: Any | None, identity: ExternalIdentity) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="external_identity.unlink", obj=identity, before=model_snapshot(identity))
        identity.delete()
