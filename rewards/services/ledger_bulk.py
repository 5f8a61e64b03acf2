"""Bulk awards: many members' points posted at once (an event's attendees, an import, a batch of activities).

The same ledger as one-by-one awards (see rewards.services.ledger): append-only entries with unique idempotency
keys, balances moved by conditional SQL in the same transaction, then levels, badges, live leaderboards and
"points.awarded" events. On PostgreSQL: the members' balance rows taken in member order, one look-up of the keys
already used, one INSERT per batch, one balance upsert (see _LOCK_BALANCES_PG below for why in this order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from community import domain_events
from rewards.models import MAX_ENTRY_POINTS, PointBalance, PointEntry, PointRule
from rewards.services.ledger import (
    Kind,
    PostedEntry,
    _after_post,
    _check_amount,
    _check_key,
    _move_balance,
)
from rewards.sql import int_array_literal

BULK_BATCH = 10_000


# Slots: callers build thousands at once, and each would otherwise carry a dict of its own.
@dataclass(frozen=True, slots=True)
class BulkAward:
    member_id: int
    amount: int
    idempotency_key: str
    reason: str
    rule: PointRule | None = None
    source: models.Model | None = None
    expires_at: datetime | None = None


@dataclass
class Inserted:
    """The new entries, as columns: a list per column, not an object per entry (see _AS_ARRAYS)."""

    member_ids: list[int] = field(default_factory=list)
    deltas: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, member_id: int, delta: int, entry_id: int, key: str, reason: str) -> None:
        self.member_ids.append(member_id)
        self.deltas.append(delta)
        self.ids.append(entry_id)
        self.keys.append(key)
        self.reasons.append(reason)

    def extend(self, other: Inserted) -> None:
        self.member_ids += other.member_ids
        self.deltas += other.deltas
        self.ids += other.ids
        self.keys += other.keys
        self.reasons += other.reasons

    def per_member(self) -> dict[int, int]:
        totals: dict[int, int] = defaultdict(int)
        for member_id, delta in zip(self.member_ids, self.deltas, strict=True):
            totals[member_id] += delta
        return totals


_ENTRIES = PointEntry._meta.db_table
_BALANCES = PointBalance._meta.db_table
_NEW_ROWS = "RETURNING member_id, lifetime_delta, id, idempotency_key, reason"
_RETURNING = f"ON CONFLICT (idempotency_key) DO NOTHING {_NEW_ROWS}"

# The values that vary from award to award, with their PostgreSQL types. Each column travels as one array
# parameter (PostgreSQL reads an array literal many times faster than JSON records or thousands of parameters),
# or, when the whole batch shares one value (as the kind, reason and rule usually do), as NULL with the value as
# a scalar beside it. The keys always travel as an array: they are unique, and they give the batch its length.
_COLUMNS = (
    ("member_id", "bigint"),
    ("amount", "bigint"),
    ("reason", "text"),
    ("rule_id", "bigint"),
    ("rule_version", "integer"),
    ("source_type_id", "integer"),
    ("source_id", "text"),
    ("expires_at", "timestamptz"),
    ("idempotency_key", "text"),
)
_SHARED = ", ".join(f"COALESCE(v.{name}, %s::{sql_type})" for name, sql_type in _COLUMNS[:-1])
_ARRAYS = ", ".join(f"%s::{sql_type}[]" for _name, sql_type in _COLUMNS)
_BULK_SELECT_PG = (
    f"INSERT INTO {_ENTRIES} AS e (member_id, lifetime_delta, reason, rule_id, rule_version, "  # noqa: S608
    "source_type_id, source_id, expires_at, idempotency_key, kind, spendable_delta, actor_id, created_at) "
    f"SELECT m.member_id, m.amount, m.reason, m.rule_id, m.rule_version, m.source_type_id, m.source_id, "
    "m.expires_at, m.idempotency_key, %s::text, m.amount, %s::bigint, %s::timestamptz "
    f"FROM (SELECT {_SHARED}, v.idempotency_key FROM unnest({_ARRAYS}) "
    f"AS v({', '.join(name for name, _type in _COLUMNS)})) "
    f"AS m({', '.join(name for name, _type in _COLUMNS)})"
)
# The new rows come back as one row of arrays: thousands of row tuples would each be an object for the garbage
# collector to track (and a bulk posting's live objects are what sets off its full collections).
_AS_ARRAYS = (
    "SELECT array_agg(member_id), array_agg(lifetime_delta), array_agg(id), array_agg(idempotency_key::text), "
    "array_agg(reason::text) FROM posted"
)
_BULK_INSERT_NEW_PG = f"WITH posted AS ({_BULK_SELECT_PG} {_NEW_ROWS}) {_AS_ARRAYS}"
_BULK_INSERT_PG = f"WITH posted AS ({_BULK_SELECT_PG} {_RETURNING}) {_AS_ARRAYS}"
# One index probe per key, as a subquery the planner cannot turn into a join: as a join (or `= ANY`) it reads the
# whole ledger into a hash once the ledger has a million entries or so (150-300 ms there, seconds at ten million,
# against about 13 ms probing). The key is unique, so the subquery finds one row at most.
_USED_KEYS_PG = (
    "SELECT k.key FROM unnest(%s::text[]) AS k(key) "  # noqa: S608
    f"WHERE (SELECT true FROM {_ENTRIES} e WHERE e.idempotency_key = k.key)"
)
_UNIQUE_VIOLATION = "23505"
# On PostgreSQL a posting first takes its members' balance rows, in member order, creating
# those missing (a single award, too, takes its member's row before inserting its key); then it looks up which of
# its keys are used already and inserts the entries with no conflict clause (ON CONFLICT's speculative insertion
# costs a good part of the insert); then it adds the points to the rows it holds. Holding the rows first is what
# keeps bulk postings and single awards of the same members from waiting on each other crosswise (a deadlock)
# whatever keys they share, and means that a key found unused stays so: anyone else posting it for these members
# waits for this posting.
_LOCK_BALANCES_PG = (
    f"INSERT INTO {_BALANCES} AS b (member_id, lifetime, spendable, updated_at) "  # noqa: S608
    "SELECT v.member_id, 0, 0, now() FROM unnest(%s::bigint[]) AS v(member_id) ORDER BY v.member_id "
    "ON CONFLICT (member_id) DO UPDATE SET updated_at = EXCLUDED.updated_at"
)
# Each member's points added to both balances; the row is created with a member's first points. Rows are taken
# in member order, so two bulk postings never wait on each other crosswise.
_BULK_BALANCES_PG = (
    f"INSERT INTO {_BALANCES} AS b (member_id, lifetime, spendable, updated_at) "  # noqa: S608
    "SELECT v.member_id, v.delta, v.delta, now() FROM unnest(%s::bigint[], %s::bigint[]) AS v(member_id, delta) "
    "ORDER BY v.member_id ON CONFLICT (member_id) DO UPDATE SET lifetime = b.lifetime + EXCLUDED.lifetime, "
    "spendable = b.spendable + EXCLUDED.spendable, updated_at = EXCLUDED.updated_at RETURNING b.member_id, b.lifetime"
)


def _int_array(values: Sequence[int | None]) -> str:
    if None in values:
        return int_array_literal(values)
    return "{" + ",".join(map(str, map(int, values))) + "}"  # the common case, without a test per value


def _text_array(values: Sequence[str | None]) -> str:
    if None not in values:
        joined = "".join(values)  # type: ignore[arg-type]
        if '"' not in joined and "\\" not in joined:  # nothing to escape: the common case
            return '{"' + '","'.join(values) + '"}'  # type: ignore[arg-type]
    quoted = (
        "NULL" if value is None else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values
    )
    return "{" + ",".join(quoted) + "}"


def _column_parameter(values: list[Any], sql_type: str) -> tuple[Any, str | None]:
    """(the scalar, the array literal) for one column: one of them is None (see _COLUMNS)."""
    first = values[0]
    if values.count(first) == len(values):
        return first, None
    if sql_type in ("bigint", "integer"):
        return None, _int_array(values)
    if sql_type == "timestamptz":
        return None, _text_array([value.isoformat() if value is not None else None for value in values])
    return None, _text_array(values)


def _check_awards(awards: Sequence[BulkAward]) -> None:
    for award in awards:
        amount, key = award.amount, award.idempotency_key
        # The checks' own conditions, inlined for the valid case; the checks themselves say what is wrong.
        if type(amount) is not int or not 0 < amount <= MAX_ENTRY_POINTS:
            _check_amount(amount)
        if not key or len(key) > 200:
            _check_key(key)


def _source_columns(batch: Sequence[BulkAward], content_types: dict[type, int]) -> tuple[list[int | None], list[str]]:
    type_ids: list[int | None] = []
    ids: list[str] = []
    for award in batch:
        source = award.source
        if source is None:
            type_ids.append(None)
            ids.append("")
            continue
        model = type(source)
        if model not in content_types:
            content_types[model] = ContentType.objects.get_for_model(model).pk
        type_ids.append(content_types[model])
        ids.append(str(source.pk))
    return type_ids, ids


def _insert_batch(
    batch: Sequence[BulkAward],
    *,
    actor_id: int | None,
    now: datetime,
    content_types: dict[type, int],
    skip_used: bool = True,
) -> Inserted:
    """Insert one batch: the new entries. With `skip_used` keys already used are skipped; without (PostgreSQL
    only), one fails the insert with IntegrityError."""
    reasons = [award.reason[:200] for award in batch]
    rules = [award.rule for award in batch]
    if all(rule is None for rule in rules):
        rule_ids: list[int | None] = [None] * len(batch)
        versions: list[int | None] = rule_ids
    else:
        rule_ids = [rule.pk if rule is not None else None for rule in rules]
        versions = [rule.version if rule is not None else None for rule in rules]
    if all(award.source is None for award in batch):
        source_types: list[int | None] = [None] * len(batch)
        source_ids = [""] * len(batch)
    else:
        source_types, source_ids = _source_columns(batch, content_types)
    columns = (
        [award.member_id for award in batch],
        [award.amount for award in batch],
        reasons,
        rule_ids,
        versions,
        source_types,
        source_ids,
        [award.expires_at for award in batch],
        [award.idempotency_key for award in batch],
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            scalars, arrays = [], []
            for (_name, sql_type), values in zip(_COLUMNS[:-1], columns[:-1], strict=True):
                scalar, array = _column_parameter(values, sql_type)
                scalars.append(scalar)
                arrays.append(array)
            arrays.append(_text_array(columns[-1]))
            params = [Kind.EARN.value, actor_id, now, *scalars, *arrays]
            cursor.execute(_BULK_INSERT_PG if skip_used else _BULK_INSERT_NEW_PG, params)
            member_ids, deltas, ids, keys, reasons = cursor.fetchone()
            if ids is None:  # nothing inserted
                return Inserted()
            return Inserted(member_ids, deltas, ids, keys, reasons)
        cursor.execute(*_generic_insert(columns, actor_id=actor_id, now=now))
        inserted = Inserted()
        for row in cursor.fetchall():
            inserted.append(*row)
        return inserted


def _generic_insert(columns: tuple[list[Any], ...], *, actor_id: int | None, now: datetime) -> tuple[str, list[Any]]:
    """The batch as one multi-row VALUES insert, for databases without array parameters."""
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for member_id, amount, reason, rule_id, version, source_type, source_id, expires_at, key in zip(
        *columns, strict=True
    ):
        params += [member_id, amount, reason, rule_id, version, source_type, source_id, adapt(expires_at), key]
        params += [Kind.EARN.value, amount, actor_id, adapt(now)]
    row = "(" + ", ".join(["%s"] * 13) + ")"
    sql = (
        f"INSERT INTO {_ENTRIES} (member_id, lifetime_delta, reason, rule_id, rule_version, "  # noqa: S608
        "source_type_id, source_id, expires_at, idempotency_key, kind, spendable_delta, actor_id, created_at) "
        f"VALUES {', '.join([row] * len(columns[0]))} {_RETURNING}"
    )
    return sql, params


def _add_to_balances(per_member: dict[int, int]) -> dict[int, int]:
    """Add each member's points to both balances; returns their lifetime points afterwards."""
    if not per_member:
        return {}
    if connection.vendor != "postgresql":
        lifetimes = {}
        for member_id, delta in per_member.items():
            moved = _move_balance(member_id, delta, delta)
            if moved is not None:
                lifetimes[member_id] = moved.lifetime
        return lifetimes
    with connection.cursor() as cursor:
        cursor.execute(_BULK_BALANCES_PG, [_int_array(list(per_member)), _int_array(list(per_member.values()))])
        return dict(cursor.fetchall())


def _used_keys(keys: list[str]) -> set[str]:
    used: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(keys), BULK_BATCH):
            cursor.execute(_USED_KEYS_PG, [_text_array(keys[start : start + BULK_BATCH])])
            used.update(key for (key,) in cursor.fetchall())
    return used


def _fresh(awards: Sequence[BulkAward]) -> list[BulkAward]:
    """The awards whose keys are not used yet, each key once (as first given)."""
    keys = [award.idempotency_key for award in awards]
    used = _used_keys(keys)
    if not used and len(set(keys)) == len(keys):
        return list(awards)
    fresh = []
    for award in awards:
        if award.idempotency_key not in used:
            used.add(award.idempotency_key)
            fresh.append(award)
    return fresh


def _post_pg(
    awards: Sequence[BulkAward], *, actor_id: int | None, now: datetime, batch_size: int
) -> tuple[Inserted, dict[int, int]]:
    """PostgreSQL: (the new entries' rows, the members' lifetime points afterwards); see _LOCK_BALANCES_PG."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_BALANCES_PG, [_int_array(sorted({award.member_id for award in awards}))])
    fresh = _fresh(awards)
    try:
        with transaction.atomic():
            inserted = _insert_batches(fresh, actor_id=actor_id, now=now, batch_size=batch_size, skip_used=False)
    except IntegrityError as error:
        # Only a key posted meanwhile for another member (whose row this posting does not hold) is settled by
        # skipping it; anything else (an unknown member) stands.
        if getattr(error.__cause__, "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
        inserted = _insert_batches(fresh, actor_id=actor_id, now=now, batch_size=batch_size, skip_used=True)
    return inserted, _add_to_balances(inserted.per_member())


def _insert_batches(
    awards: Sequence[BulkAward], *, actor_id: int | None, now: datetime, batch_size: int, skip_used: bool
) -> Inserted:
    content_types: dict[type, int] = {}
    inserted = Inserted()
    for start in range(0, len(awards), batch_size):
        inserted.extend(
            _insert_batch(
                awards[start : start + batch_size],
                actor_id=actor_id,
                now=now,
                content_types=content_types,
                skip_used=skip_used,
            )
        )
    return inserted


def _post_batches(
    awards: Sequence[BulkAward], *, actor_id: int | None, now: datetime, batch_size: int
) -> tuple[Inserted, dict[int, int]]:
    """Elsewhere than PostgreSQL: per batch, an insert that skips keys already used, then the balances of what it
    inserted (those databases let one writer at a time in)."""
    content_types: dict[type, int] = {}
    inserted = Inserted()
    lifetimes: dict[int, int] = {}
    for start in range(0, len(awards), batch_size):
        batch = _insert_batch(
            awards[start : start + batch_size], actor_id=actor_id, now=now, content_types=content_types
        )
        lifetimes.update(_add_to_balances(batch.per_member()))
        inserted.extend(batch)
    return inserted, lifetimes


def points_award_bulk(*, awards: Sequence[BulkAward], actor: Any | None = None, batch_size: int = BULK_BATCH) -> int:
    """Award many members at once (an event's attendees): keys already used are skipped, each member's
    balances move once, the entries go in one INSERT per batch. Returns how many entries were new."""
    _check_awards(awards)
    if not awards:
        return 0
    now = timezone.now()
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    stamp = now.isoformat()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            inserted, lifetimes = _post_pg(awards, actor_id=actor_id, now=now, batch_size=batch_size)
        else:
            inserted, lifetimes = _post_batches(awards, actor_id=actor_id, now=now, batch_size=batch_size)
        # Each member's points and their lifetime points afterwards: what levels and leaderboards need.
        posted = [
            PostedEntry(member_id, delta, delta, now, lifetimes.get(member_id))
            for member_id, delta in inserted.per_member().items()
        ]
        if posted:
            _after_post(posted)
        # The payloads of ledger._awarded_payload, built inline (a bulk posting makes thousands) and only now, so
        # they are not alive while levels and boards are worked out.
        domain_events.publish_many(
            "points.awarded",
            [
                {
                    "entry_id": entry_id,
                    "member_id": member_id,
                    "points": delta,
                    "reason": reason,
                    "idempotency_key": key,
                    "created_at": stamp,
                }
                for member_id, delta, entry_id, key, reason in zip(
                    inserted.member_ids, inserted.deltas, inserted.ids, inserted.keys, inserted.reasons, strict=True
                )
            ],
        )
    return len(inserted)


__all__ = ["BULK_BATCH", "BulkAward", "points_award_bulk"]
