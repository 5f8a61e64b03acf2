"""Idempotency-Key handling for the API's point changes: the first response is stored and replayed on retries.

The change runs first and its response is stored after it, in the same transaction, with an insert that skips
a key already taken. The change itself must be idempotent by the key (awards and deductions derive their
ledger key from it), so a retry, or a duplicate racing the first request, lands once in the ledger; it then
finds the stored record and answers with the first response. A key reused with a different request is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community.db import prepared_cursor
from community.errors import ServiceError
from rewards.models import IdempotencyRecord

_RECORD_FIELDS = [field for field in IdempotencyRecord._meta.concrete_fields if not field.primary_key]
_RECORD_INSERT = (
    f"INSERT INTO {IdempotencyRecord._meta.db_table} "  # noqa: S608
    f"({', '.join(field.column for field in _RECORD_FIELDS)}) VALUES ({', '.join(['%s'] * len(_RECORD_FIELDS))}) "
    "ON CONFLICT DO NOTHING RETURNING id"
)


_BODY = IdempotencyRecord._meta.get_field("response_body")
_DIRECT_COLUMNS = ("user_id", "key", "request_fingerprint", "response_status", "response_body", "created_at")
_DIRECT = tuple(field.column for field in _RECORD_FIELDS) == _DIRECT_COLUMNS


def _record_params(user_id: int, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> list[Any]:
    """The insert's values: as they are, but for the JSON body, which its field encodes (on every award, the
    fields' own preparation of the rest cost more than the insert)."""
    if _DIRECT:
        return [user_id, key, fingerprint, status, _BODY.get_db_prep_save(body, connection), timezone.now()]
    record = IdempotencyRecord(
        user_id=user_id,
        key=key,
        request_fingerprint=fingerprint,
        response_status=status,
        response_body=body,
        created_at=timezone.now(),
    )
    return [field.get_db_prep_save(getattr(record, field.attname), connection) for field in _RECORD_FIELDS]


@dataclass(frozen=True)
class IdempotentResponse:
    status: int
    body: dict[str, Any]
    replayed: bool


def _key_reused() -> ServiceError:
    return ServiceError(
        _("This Idempotency-Key was already used with a different request."), code="idempotency_key_reused"
    )


def _stored(user_id: int, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(user_id=user_id, key=key).first()


def idempotent_perform(
    *, user: Any, key: str, fingerprint: str, perform: Callable[[], tuple[int, dict[str, Any]]]
) -> IdempotentResponse:
    """Run `perform` (which returns the response status and body) once per (user, key).

    Raises ServiceError(code="idempotency_key_reused") when the key was used with a different fingerprint.
    Exceptions from `perform` roll everything back, so a refused request leaves the key free.
    """
    try:
        with transaction.atomic():
            status, body = perform()
            with prepared_cursor() as cursor:
                cursor.execute(_RECORD_INSERT, _record_params(user.pk, key, fingerprint, status, body))
                inserted = cursor.fetchone() is not None
            if not inserted:
                # A retry, or a twin that committed first: what was done is what the first response said.
                stored = _stored(user.pk, key)
                if stored is None or stored.request_fingerprint != fingerprint:
                    raise _key_reused()
                transaction.set_rollback(True)  # this run changed nothing the first did not (see above)
                return IdempotentResponse(stored.response_status, stored.response_body or {}, True)
    except Exception as error:
        if isinstance(error, ServiceError) and error.code == "idempotency_key_reused":
            raise
        # A different request under a used key may fail its own validation; the reuse is the real error.
        stored = _stored(user.pk, key)
        if stored is not None and stored.request_fingerprint != fingerprint:
            raise _key_reused() from None
        raise
    return IdempotentResponse(status, body, False)
