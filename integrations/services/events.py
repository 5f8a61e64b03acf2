"""Inbound product usage events: a product's backend tells the community what its users did.

Each accepted event becomes one activity with verb ``product.<name>`` and ``dedupe_key="product:<event id>"``, so
a re-sent or raced event records once. Rows are checked one by one: a malformed row or an unknown member is
reported in that row's result and the rest of the batch is kept. Everything is done with a constant number of
queries per batch (one for the members named by e-mail, one for those named by external id, one INSERT that
also tells which ids are new), because usage data arrives in bulk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import ActivityInput, activities_record_bulk_returning, audit_record
from members.models import Member

MAX_BATCH = 1000
MAX_EVENT_ID_LENGTH = 120  # the activity's dedupe key is "product:" + the id, at most 128 characters
MAX_PROPERTIES_BYTES = 8192
MAX_FUTURE_SKEW = timedelta(hours=1)
VERB_PREFIX = "product."
DEFAULT_PROVIDER = "product"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,55}$")


class Outcome:
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(slots=True)
class EventResult:
    index: int
    id: str | None
    status: str
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"index": self.index, "id": self.id, "status": self.status}
        if self.errors:
            row["errors"] = self.errors
        return row


@dataclass(slots=True)
class _Row:
    index: int
    event_id: str
    name: str
    occurred_at: datetime
    properties: dict[str, Any]
    email: str | None
    external_id: str | None


def product_event_verb(name: str) -> str:
    return f"{VERB_PREFIX}{name}"


def product_event_dedupe_key(event_id: str) -> str:
    return f"product:{event_id}"


def _surely_small(properties: Mapping[str, Any]) -> bool:
    """True when flat `properties` certainly encode to at most MAX_PROPERTIES_BYTES of JSON, without encoding them.

    Each key and string counts as if every character needed a 12-character escape, each number as 24 characters;
    anything else (nested values) says False, and the caller measures the encoding itself."""
    budget = MAX_PROPERTIES_BYTES - 2
    for key, value in properties.items():
        kind = type(value)
        if kind is str:
            budget -= 12 * len(value) + 2
        elif kind is int:
            if value.bit_length() > 64:
                return False
            budget -= 24
        elif kind is float or kind is bool or value is None:
            budget -= 24
        else:
            return False
        if type(key) is not str:
            return False
        budget -= 12 * len(key) + 6
        if budget < 0:
            return False
    return True


def _clean(index: int, raw: Any, latest: datetime) -> _Row | EventResult:
    """A row's fields, or its rejection with a message per field (cheap checks only: this runs 20,000 times/s).

    `latest` is the latest acceptable occurred_at."""
    if not isinstance(raw, Mapping):
        return EventResult(index, None, Outcome.REJECTED, {"non_field_errors": [_("Each event must be an object.")]})
    errors: dict[str, list[str]] = {}
    event_id = raw.get("id")
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_EVENT_ID_LENGTH:
        errors["id"] = [_("Give the event's own id: 1 to 120 characters.")]
        event_id = None
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        errors["name"] = [
            _("An event name is 1 to 56 characters: lower-case letters, digits and _ . : - (e.g. report_exported).")
        ]
    occurred_raw = raw.get("occurred_at")
    occurred_at = None
    if isinstance(occurred_raw, str):
        try:
            # The C parser first (most senders use plain ISO 8601); Django's for the rest.
            occurred_at = datetime.fromisoformat(occurred_raw)
        except ValueError:
            try:
                occurred_at = parse_datetime(occurred_raw)
            except ValueError:
                occurred_at = None
    if occurred_at is None:
        errors["occurred_at"] = [_("Give occurred_at as an ISO 8601 date and time with its offset.")]
    elif occurred_at.utcoffset() is None:
        errors["occurred_at"] = [_("occurred_at needs a time zone offset, e.g. 2026-03-01T09:30:00Z.")]
        occurred_at = None
    elif occurred_at > latest:
        errors["occurred_at"] = [_("occurred_at is in the future.")]
    properties = raw.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        errors["properties"] = [_("properties must be an object.")]
    elif (
        properties and not _surely_small(properties) and len(json.dumps(properties, default=str)) > MAX_PROPERTIES_BYTES
    ):
        errors["properties"] = [_("Keep properties under 8 KB.")]
    email = raw.get("email")
    external_id = raw.get("external_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if email is not None and (not isinstance(email, str) or "@" not in email or len(email) > 254):
        errors["email"] = [_("Enter a valid email address.")]
    if external_id is not None and (not isinstance(external_id, str) or not external_id or len(external_id) > 191):
        errors["external_id"] = [_("An external id is 1 to 191 characters.")]
    if not email and not external_id and "email" not in errors and "external_id" not in errors:
        errors["member"] = [_("Say who did it: give email or external_id.")]
    if errors:
        return EventResult(index, event_id, Outcome.REJECTED, errors)
    return _Row(
        index=index,
        event_id=event_id,
        name=name,
        occurred_at=occurred_at,
        properties=properties if type(properties) is dict else dict(properties),
        email=email.strip().lower() if email else None,
        external_id=external_id or None,
    )


def _members_for(rows: Sequence[_Row], provider: str) -> tuple[dict[str, Member], dict[str, Member]]:
    """Members by e-mail and by external id for the whole batch: one query for each kind of name, each one driven
    by its own unique index (e-mail, or provider and external id), however many members the program has."""
    emails = sorted({row.email for row in rows if row.email})
    external_ids = sorted({row.external_id for row in rows if row.external_id})
    by_email: dict[str, Member] = {}
    by_external_id: dict[str, Member] = {}
    if external_ids:
        found = (
            Member.objects.filter(
                external_identities__provider=provider, external_identities__external_id__in=external_ids
            )
            .annotate(matched_external_id=F("external_identities__external_id"))
            .order_by()
        )
        for member in found:
            by_external_id[member.matched_external_id] = member
    if emails:
        found = Member.objects.filter(user__email__in=emails).annotate(matched_email=F("user__email")).order_by()
        for member in found:
            by_email[member.matched_email] = member
    return by_email, by_external_id


def product_events_record(
    *, events: Sequence[Any], actor: Any | None, provider: str = DEFAULT_PROVIDER, token: Any | None = None
) -> list[EventResult]:
    """Record a batch of product events (1 to 1,000); returns one result per row, in order.

    A row is `recorded`, a `duplicate` (its id was recorded before, or earlier in this batch: nothing new
    happens), or `rejected` with messages per field (malformed, or no member with that e-mail / external id).
    An external id takes precedence over an e-mail when a row gives both.
    """
    if not isinstance(events, list | tuple) or not events:
        raise ServiceError(_("Send at least one event."), field="events")
    if len(events) > MAX_BATCH:
        raise ServiceError(
            _("Send at most %(max)d events per request.") % {"max": MAX_BATCH}, field="events", code="too_many"
        )
    latest = timezone.now() + MAX_FUTURE_SKEW
    results: list[EventResult | None] = [None] * len(events)
    rows: list[_Row] = []
    for index, raw in enumerate(events):
        cleaned = _clean(index, raw, latest)
        if isinstance(cleaned, EventResult):
            results[index] = cleaned
        else:
            rows.append(cleaned)
    by_email, by_external_id = _members_for(rows, provider)
    entries: list[ActivityInput] = []
    pending: list[tuple[_Row, str]] = []
    in_batch: set[str] = set()
    for row in rows:
        member = by_external_id.get(row.external_id) if row.external_id else by_email.get(row.email or "")
        if member is None:
            if row.external_id:
                errors = {"external_id": [_("No member has this external id.")]}
            else:
                errors = {"email": [_("No member has this email address.")]}
            results[row.index] = EventResult(row.index, row.event_id, Outcome.REJECTED, errors)
            continue
        key = product_event_dedupe_key(row.event_id)
        if key in in_batch:
            results[row.index] = EventResult(row.index, row.event_id, Outcome.DUPLICATE)
            continue
        in_batch.add(key)
        pending.append((row, key))
        entries.append(
            ActivityInput(
                member=member,
                verb=product_event_verb(row.name),
                occurred_at=row.occurred_at,
                data={"event_id": row.event_id, "name": row.name, "source": provider, "properties": row.properties},
                dedupe_key=key,
            )
        )
    recorded_keys: set[str] = set()
    if entries:
        # The insert itself says which ids are new (recorded before, or by a concurrent request: a duplicate), so
        # there is no look-up first and a race for the same id still records it once.
        with transaction.atomic():
            recorded = activities_record_bulk_returning(entries=entries)
            if recorded:
                audit_record(
                    actor=actor,
                    action="product_events.record",
                    after={
                        "recorded": len(recorded),
                        "rows": len(events),
                        "provider": provider,
                        "token": getattr(token, "prefix", None),
                    },
                )
        recorded_keys = {activity.dedupe_key for activity in recorded}
    for row, key in pending:
        status = Outcome.RECORDED if key in recorded_keys else Outcome.DUPLICATE
        results[row.index] = EventResult(row.index, row.event_id, status)
    return [result for result in results if result is not None]
