"""Inbound product usage events: a product's backend tells the community what its users did.

Each accepted event becomes one activity with verb ``product.<name>`` and ``dedupe_key="product:<event id>"``, so
a re-sent or raced event records once. Rows are checked one by one: a malformed row or an unknown member is
reported in that row's result and the rest of the batch is kept. Everything is done with a constant number of
queries per batch (one for the members named by e-mail, one for those named by external id, then
`community.services.activity_batches`: one INSERT that also tells which ids are new, and the members of the new
activities only if a point rule or badge reads them), because usage data arrives in bulk: rows travel as plain
tuples and dicts, and no model instance is made for a row that records nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import audit_record
from community.services.activity_batches import KeyedActivity, activities_record_keyed
from integrations.models import ExternalIdentity
from members.selectors import member_ids_by_email

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


def product_event_verb(name: str) -> str:
    return f"{VERB_PREFIX}{name}"


def product_event_dedupe_key(event_id: str) -> str:
    return f"product:{event_id}"


# A row that passed the checks: (index, event id, name, occurred_at, properties, e-mail, external id).
_Row = tuple[int, str, str, datetime, dict[str, Any], str | None, str | None]


def _clean(index: int, raw: Any, latest: datetime) -> _Row | EventResult:
    """A row's fields, or its rejection with a message per field (cheap checks only: this runs 20,000 times/s).

    `latest` is the latest acceptable occurred_at."""
    if type(raw) is not dict and not isinstance(raw, Mapping):
        return EventResult(index, None, Outcome.REJECTED, {"non_field_errors": [_("Each event must be an object.")]})
    errors: dict[str, list[str]] = {}
    get = raw.get
    event_id = get("id")
    if type(event_id) is not str:
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            event_id = str(event_id)
        elif not isinstance(event_id, str):
            event_id = None
    if event_id is None or len(event_id) > MAX_EVENT_ID_LENGTH or not event_id.strip() or not _storable(event_id):
        errors["id"] = [_("Give the event's own id: 1 to 120 characters.")]
        event_id = None
    name = get("name")
    if type(name) is not str or not NAME_RE.match(name):
        errors["name"] = [
            _("An event name is 1 to 56 characters: lower-case letters, digits and _ . : - (e.g. report_exported).")
        ]
    occurred_raw = get("occurred_at")
    occurred_at = None
    if type(occurred_raw) is str:
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
    properties = get("properties")
    if properties is None:
        properties = {}
    elif type(properties) is not dict:
        if isinstance(properties, Mapping):
            properties = dict(properties)
        else:
            errors["properties"] = [_("properties must be an object.")]
    if properties and "properties" not in errors and not _surely_small(properties):
        try:
            encoded = json.dumps(properties, allow_nan=False)
        except (TypeError, ValueError):
            encoded = None
        if encoded is None or not _storable_value(properties):
            errors["properties"] = [_("properties must be plain JSON.")]
        elif len(encoded) > MAX_PROPERTIES_BYTES:
            errors["properties"] = [_("Keep properties under 8 KB.")]
    email = get("email")
    external_id = get("external_id")
    if type(external_id) is int:
        external_id = str(external_id)
    if email is not None and (type(email) is not str or "@" not in email or len(email) > 254 or not _storable(email)):
        errors["email"] = [_("Enter a valid email address.")]
    if external_id is not None and (
        type(external_id) is not str or not external_id or len(external_id) > 191 or not _storable(external_id)
    ):
        errors["external_id"] = [_("An external id is 1 to 191 characters.")]
    if not email and not external_id and "email" not in errors and "external_id" not in errors:
        errors["member"] = [_("Say who did it: give email or external_id.")]
    if errors:
        return EventResult(index, event_id, Outcome.REJECTED, errors)
    return (
        index,
        event_id,
        name,
        occurred_at,
        properties,
        email.strip().lower() if email else None,
        external_id or None,
    )


def _storable(text: str) -> bool:
    """True when the database takes `text` as it is: no NUL character, no lone surrogate (it must be UTF-8)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _storable_value(value: Any) -> bool:
    """`_storable` for every key and string inside a JSON value."""
    if type(value) is str:
        return _storable(value)
    if isinstance(value, Mapping):
        return all((type(key) is not str or _storable(key)) and _storable_value(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_storable_value(item) for item in value)
    return True


def _surely_small(properties: Mapping[str, Any]) -> bool:
    """True when flat `properties` certainly encode to at most MAX_PROPERTIES_BYTES of JSON that the database
    takes, without encoding them.

    Each key and string counts as if every character needed a 12-character escape, each number as 24 characters;
    anything else (nested values, non-finite numbers, text the database refuses) says False, and the caller
    measures the encoding itself."""
    budget = MAX_PROPERTIES_BYTES - 2
    for key, value in properties.items():
        kind = type(value)
        if kind is str:
            if not _storable(value):
                return False
            budget -= 12 * len(value) + 2
        elif kind is int:
            if value.bit_length() > 64:
                return False
            budget -= 24
        elif kind is float:
            if value - value != 0:  # inf and nan
                return False
            budget -= 24
        elif kind is bool or value is None:
            budget -= 24
        else:
            return False
        if type(key) is not str or not _storable(key):
            return False
        budget -= 12 * len(key) + 6
        if budget < 0:
            return False
    return True


KEY_PREFIX = "product:"

_ZONES: dict[str, ZoneInfo] = {}


def _zone(name: str) -> ZoneInfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


def _members_for(rows: Sequence[_Row], provider: str) -> tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]]]:
    """(member id, time zone) by e-mail and by external id for the whole batch: one query for each kind of name,
    each one driven by its own unique index (e-mail, or provider and external id), however many members the
    program has. Plain tuples: a row needs only the member's id and time zone."""
    emails = sorted({row[5] for row in rows if row[5] and not row[6]})
    external_ids = sorted({row[6] for row in rows if row[6]})
    by_external_id: dict[str, tuple[int, str]] = {}
    if external_ids:
        if connection.vendor == "postgresql":
            # One array parameter: the driver quotes a thousand-item IN list value by value.
            with connection.cursor() as cursor:
                cursor.execute(_EXTERNAL_IDS_SQL, [provider, external_ids])
                found = cursor.fetchall()
        else:
            identities = ExternalIdentity.objects.filter(provider=provider, external_id__in=external_ids)
            found = list(identities.values_list("external_id", "member_id", "member__time_zone"))
        by_external_id = {key: (member_id, zone) for key, member_id, zone in found}
    return member_ids_by_email(emails=emails), by_external_id


_EXTERNAL_IDS_SQL = (
    f"SELECT i.external_id, i.member_id, m.time_zone FROM {ExternalIdentity._meta.db_table} AS i "  # noqa: S608
    f"JOIN {ExternalIdentity._meta.get_field('member').related_model._meta.db_table} AS m ON m.id = i.member_id "
    "WHERE i.provider = %s AND i.external_id = ANY(%s)"
)


@dataclass(slots=True)
class EventBatch:
    """What a batch came to: counts, and one plain result dict per row, in order (as the API answers them)."""

    recorded: int = 0
    duplicates: int = 0
    rejected: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)


def product_events_ingest(
    *, events: Sequence[Any], actor: Any | None, provider: str = DEFAULT_PROVIDER, token: Any | None = None
) -> EventBatch:
    """Record a batch of product events (1 to 1,000); returns the counts and one result dict per row, in order.

    A row is `recorded`, a `duplicate` (its id was recorded before, or earlier in this batch: nothing new
    happens), or `rejected` with messages per field (malformed, or no member with that e-mail / external id).
    An external id takes precedence over an e-mail when a row gives both. The new activities reach the activity
    hooks (point rules, badges) in the same transaction, as any activity does.
    """
    if not isinstance(events, list | tuple) or not events:
        raise ServiceError(_("Send at least one event."), field="events")
    if len(events) > MAX_BATCH:
        raise ServiceError(
            _("Send at most %(max)d events per request.") % {"max": MAX_BATCH}, field="events", code="too_many"
        )
    now = timezone.now()
    latest = now + MAX_FUTURE_SKEW
    results: list[dict[str, Any] | None] = [None] * len(events)
    rows: list[_Row] = []
    rejected = 0
    for index, raw in enumerate(events):
        cleaned = _clean(index, raw, latest)
        if type(cleaned) is tuple:
            rows.append(cleaned)
        else:
            results[index] = cleaned.as_dict()
            rejected += 1
    by_email, by_external_id = _members_for(rows, provider)
    # Dedupe key -> the row's index and event id; the first row with an id wins.
    pending: dict[str, tuple[int, str]] = {}
    keyed: list[KeyedActivity] = []
    duplicates = 0
    for index, event_id, name, occurred_at, properties, email, external_id in rows:
        found = by_external_id.get(external_id) if external_id else by_email.get(email)
        if found is None:
            if external_id:
                errors = {"external_id": [_("No member has this external id.")]}
            else:
                errors = {"email": [_("No member has this email address.")]}
            results[index] = {"index": index, "id": event_id, "status": Outcome.REJECTED, "errors": errors}
            rejected += 1
            continue
        key = KEY_PREFIX + event_id
        if key in pending:
            results[index] = {"index": index, "id": event_id, "status": Outcome.DUPLICATE}
            duplicates += 1
            continue
        member_id, zone_name = found
        pending[key] = (index, event_id)
        keyed.append(
            KeyedActivity(
                member_id=member_id,
                verb=VERB_PREFIX + name,
                data={"event_id": event_id, "name": name, "source": provider, "properties": properties},
                occurred_at=occurred_at,
                local_date=occurred_at.astimezone(_zone(zone_name)).date(),
                dedupe_key=key,
            )
        )
    recorded_keys: set[str] = set()
    if keyed:
        # The insert itself says which ids are new (recorded before, or by a concurrent request: a duplicate), so
        # there is no look-up first and a race for the same id still records it once.
        with transaction.atomic():
            recorded_activities = activities_record_keyed(activities=keyed)
            if recorded_activities:
                audit_record(
                    actor=actor,
                    action="product_events.record",
                    after={
                        "recorded": len(recorded_activities),
                        "rows": len(events),
                        "provider": provider,
                        "token": getattr(token, "prefix", None),
                    },
                )
        recorded_keys = {activity.dedupe_key for activity in recorded_activities}
    recorded = 0
    for key, (index, event_id) in pending.items():
        if key in recorded_keys:
            results[index] = {"index": index, "id": event_id, "status": Outcome.RECORDED}
            recorded += 1
        else:
            results[index] = {"index": index, "id": event_id, "status": Outcome.DUPLICATE}
            duplicates += 1
    return EventBatch(recorded=recorded, duplicates=duplicates, rejected=rejected, results=results)


def product_events_record(
    *, events: Sequence[Any], actor: Any | None, provider: str = DEFAULT_PROVIDER, token: Any | None = None
) -> list[EventResult]:
    """`product_events_ingest`, answering with one `EventResult` per row, in order."""
    batch = product_events_ingest(events=events, actor=actor, provider=provider, token=token)
    return [EventResult(row["index"], row["id"], row["status"], row.get("errors") or {}) for row in batch.results]
