"""The audit log: every state change written through a service records who did what to which object, with the
object's fields before and after."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from community.db import RowInsert
from community.models import AuditLog


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder)) if value is not None else None


def model_snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The concrete field values of `obj` (foreign keys as ids), for an audit record's before/after."""
    wanted = set(fields) if fields is not None else None
    snapshot: dict[str, Any] = {}
    for model_field in obj._meta.concrete_fields:
        if wanted is not None and model_field.name not in wanted:
            continue
        if model_field.name in {"password", "key_hash"}:
            continue
        value = getattr(obj, model_field.attname)
        if isinstance(model_field, models.FileField):
            value = value.name if value else ""
        snapshot[model_field.name] = value
    return jsonable(snapshot)


def audit_record(
    *,
    actor: Any | None,
    action: str,
    obj: models.Model | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditLog:
    """Record one state change. `actor` is the acting user (None for the system itself)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    record = AuditLog(
        actor=actor,
        action=action,
        object_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        before=jsonable(dict(before)) if before is not None else None,
        after=jsonable(dict(after)) if after is not None else None,
    )
    _audit_insert(record)
    return record


_audit_insert = RowInsert(AuditLog)


def audit_record_bulk(*, entries: Sequence[Mapping[str, Any]], actor: Any | None = None) -> int:
    """Record many state changes by one actor (None: the system) in one INSERT. Each entry is a mapping with
    `action` and optionally `obj`, `before`, `after`, as for `audit_record`. Returns how many were written."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    rows = []
    for entry in entries:
        obj = entry.get("obj")
        before, after = entry.get("before"), entry.get("after")
        rows.append(
            AuditLog(
                actor=actor,
                action=entry["action"],
                object_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
                object_id=str(obj.pk) if obj is not None else "",
                object_repr=str(obj)[:200] if obj is not None else "",
                before=jsonable(dict(before)) if before is not None else None,
                after=jsonable(dict(after)) if after is not None else None,
            )
        )
    return len(AuditLog.objects.bulk_create(rows, batch_size=1000))
