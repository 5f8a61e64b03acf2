"""The points ledger: the only code that writes PointEntry and PointBalance.

Every movement is one append-only entry plus a conditional update of the member's balance row in the same
transaction. The entry's unique idempotency key makes a retried or raced request land once; the balance
update is a single `UPDATE … SET spendable = spendable + n WHERE …` so concurrent requests never lose a point,
and the database's check constraint keeps spendable ≥ 0 even if code were wrong.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community import domain_events
from community.db import prepared_cursor
from community.errors import ServiceError
from community.services import audit_record
from members.models import Member
from rewards.models import MAX_ENTRY_POINTS, PointBalance, PointEntry, PointRule
from rewards.selectors.leaderboards import member_segments_sql

logger = logging.getLogger(__name__)
Kind = PointEntry.Kind


@dataclass(frozen=True)
class LedgerResult:
    entry: PointEntry
    created: bool
    # (lifetime, spendable) right after this posting, when it was made now (not for a replayed key).
    balance: tuple[int, int] | None = None


@dataclass(frozen=True)
class PostedEntry:
    """What downstream consumers (leaderboards, levels, badges) need to know about a new entry."""

    member_id: int
    lifetime_delta: int
    spendable_delta: int
    created_at: datetime
    # The member's lifetime points after this entry, when the poster knows it (lets levels skip members whose
    # points crossed no threshold).
    lifetime_after: int | None = None
    # The member's leaderboard segments, when the poster read them with the balance (None: not known).
    segments: tuple[str, ...] | None = None
    # The level the member held before this entry and whether they were below it, when read with the balance.
    level_known: bool = False
    level_id: int | None = None
    level_below: bool = False


@dataclass(frozen=True)
class _BalanceMoved:
    lifetime: int
    spendable: int
    segments: tuple[str, ...] | None  # None: not read with the balance
    level_known: bool
    level_id: int | None
    level_below: bool


_NO_MEMBER = _BalanceMoved(0, 0, None, False, None, False)  # _move_balance's answer for an id with no member


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ServiceError(_("Points must be a whole number."), field="amount")
    if amount <= 0:
        raise ServiceError(_("Points must be greater than zero."), field="amount")
    if amount > MAX_ENTRY_POINTS:
        raise ServiceError(
            _("At most %(max)d points can move in one entry.") % {"max": MAX_ENTRY_POINTS}, field="amount"
        )


def _check_key(idempotency_key: str) -> None:
    if not idempotency_key or len(idempotency_key) > 200:
        raise ServiceError(_("An idempotency key of 1 to 200 characters is required."), field="idempotency_key")


def _ensure_balance_row(member_id: int) -> bool:
    """Create the member's balance row if it is missing. False when there is no such member (callers may pass
    an id they have not looked up: an existing balance row is proof enough on every later posting)."""
    if not Member.objects.filter(pk=member_id).exists():
        return False
    PointBalance.objects.bulk_create([PointBalance(member_id=member_id)], ignore_conflicts=True)
    return True


def _no_such_member() -> ServiceError:
    return ServiceError(_("No member has this id."), field="member", code="unknown_member")


_BALANCE_MOVE = (
    f"UPDATE {PointBalance._meta.db_table} SET lifetime = lifetime + %s, spendable = spendable + %s, "  # noqa: S608
    "updated_at = %s WHERE member_id = %s AND spendable + %s >= 0 AND lifetime + %s >= 0 "
    "RETURNING lifetime, spendable"
)
_BALANCE_MOVES: dict[str, str] = {}


def _balance_move_sql() -> str:
    """The balance UPDATE; where the database can, it also returns the member's leaderboard segments and level,
    which the live boards and the level check need for every posting (a round trip or two less per award)."""
    sql = _BALANCE_MOVES.get(connection.vendor)
    if sql is None:
        from rewards.services.levels import member_level_state_sql

        member = f"{PointBalance._meta.db_table}.member_id"
        segments, level = member_segments_sql(member), member_level_state_sql(member)
        extra = f", {segments}, {level}" if segments and level else ""
        sql = _BALANCE_MOVES[connection.vendor] = _BALANCE_MOVE + extra
    return sql


def _move_balance(member_id: int, lifetime_delta: int, spendable_delta: int) -> _BalanceMoved | None:
    """Move the balance in one conditional UPDATE and return the new balances (with the member's segments and
    level where the database returns them); None (nothing changed) if either balance would go below zero. A
    member's first posting creates the row."""
    params = [lifetime_delta, spendable_delta, timezone.now(), member_id, spendable_delta, lifetime_delta]
    sql = _balance_move_sql()
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            # No row matched: too few points, or no balance row yet (possibly being created by a concurrent first
            # posting, which this insert waits for). Make sure the row exists, then try once more.
            if not _ensure_balance_row(member_id):
                return _NO_MEMBER
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        return None
    return _balance_from_row(row)


_ENTRY_FIELDS = [field for field in PointEntry._meta.concrete_fields if not field.primary_key]
_ENTRY_INSERT = (
    f"INSERT INTO {PointEntry._meta.db_table} ({', '.join(field.column for field in _ENTRY_FIELDS)}) "  # noqa: S608
    f"VALUES ({', '.join(['%s'] * len(_ENTRY_FIELDS))}) ON CONFLICT DO NOTHING RETURNING id"
)


def _insert_entry(entry: PointEntry) -> bool:
    """Insert the entry unless its idempotency key (or the entry it reverses) is already taken: one statement,
    no savepoint. True when it was inserted (and `entry` now has its id)."""
    params = [field.get_db_prep_save(getattr(entry, field.attname), connection) for field in _ENTRY_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(_ENTRY_INSERT, params)
        row = cursor.fetchone()
    if row is None:
        return False
    entry.pk = row[0]
    entry._state.adding = False
    entry._state.db = connection.alias
    return True


# A posting that adds points (an award, a refund) creates the member's balance row if it is missing, in the same
# statement: a member's first award is then one statement, not four. Taking points never creates a row (there
# is nothing to take). The member is read from their own table, so an id with no member matches nothing.
_BALANCE_ADD = (
    f"INSERT INTO {PointBalance._meta.db_table} AS pb (member_id, lifetime, spendable, updated_at) "  # noqa: S608
    f"SELECT m.id, %s::bigint, %s::bigint, %s::timestamptz FROM {Member._meta.db_table} m WHERE m.id = %s "
    "ON CONFLICT (member_id) DO UPDATE SET lifetime = pb.lifetime + EXCLUDED.lifetime, "
    "spendable = pb.spendable + EXCLUDED.spendable, updated_at = EXCLUDED.updated_at "
    "RETURNING pb.lifetime, pb.spendable"
)
_POSTINGS: dict[bool, str] = {}


def _posting_sql(*, adds: bool) -> str:
    """PostgreSQL: the balance change and the entry INSERT as one statement. The entry is inserted only from the
    row the balance change returned, so a refusal (too few points, no balance row yet) changes nothing; a key
    already taken leaves the balance moved and the entry id NULL, and the caller gives the points back, as it
    would after two statements. With `adds` the balance change is _BALANCE_ADD (its parameters: lifetime,
    spendable, now, member), else _balance_move_sql()."""
    sql = _POSTINGS.get(adds)
    if sql is None:
        if adds:
            from rewards.services.levels import member_level_state_sql

            balance = f"{_BALANCE_ADD}, {member_segments_sql('pb.member_id')}, {member_level_state_sql('pb.member_id')}"
        else:
            balance = _balance_move_sql()
        columns = ", ".join(field.column for field in _ENTRY_FIELDS)
        values = ", ".join(f"%s::{field.cast_db_type(connection)}" for field in _ENTRY_FIELDS)
        sql = _POSTINGS[adds] = (
            f"WITH b AS ({balance}), "  # noqa: S608
            f"e AS (INSERT INTO {PointEntry._meta.db_table} ({columns}) SELECT {values} FROM b "
            "ON CONFLICT DO NOTHING RETURNING id) "
            "SELECT b.*, (SELECT id FROM e) FROM b"
        )
    return sql


def _balance_from_row(row: Sequence[Any]) -> _BalanceMoved:
    if len(row) == 2:
        return _BalanceMoved(row[0], row[1], None, False, None, False)
    level = row[3]
    return _BalanceMoved(
        row[0], row[1], tuple(row[2] or ()), True, level[0] if level else None, bool(level and level[1])
    )


# The posting statement casts every value it inserts, so on PostgreSQL these column types need no conversion by
# their fields first (which cost more than building the statement's other parameters together).
_PLAIN_TYPES = {"BigIntegerField", "CharField", "DateTimeField", "ForeignKey", "IntegerField", "PositiveIntegerField"}
_ENTRY_VALUES_PLAIN = all(field.get_internal_type() in _PLAIN_TYPES for field in _ENTRY_FIELDS)
_ENTRY_FIELD_ATTNAMES = [field.attname for field in _ENTRY_FIELDS]
_ENTRY_CONCRETE = PointEntry._meta.concrete_fields
_ENTRY_ATTNAMES = [field.attname for field in _ENTRY_CONCRETE]
_ENTRY_RELATIONS = [PointEntry._meta.get_field(name) for name in ("member", "rule", "source_type", "actor", "reverses")]


def _new_entry(values: dict[str, Any], related: Sequence[models.Model | None]) -> PointEntry:
    """An unsaved entry from its column values, with its related objects (in `_ENTRY_RELATIONS` order) cached as
    PointEntry(member=…, rule=…) would cache them; positional construction skips the keyword machinery."""
    entry = PointEntry(*[values.get(attname) for attname in _ENTRY_ATTNAMES])
    for relation, obj in zip(_ENTRY_RELATIONS, related, strict=True):
        if obj is not None:
            relation.set_cached_value(entry, obj)
    return entry


def _post_entry(entry: PointEntry, lifetime_delta: int, spendable_delta: int) -> tuple[_BalanceMoved | None, bool]:
    """Move the member's balance and insert the entry. Returns (the balance moved, whether the entry was
    inserted): (None, False) when nothing changed because either balance would go below zero, (_NO_MEMBER,
    False) for an id with no member, and a balance with False when the entry's key (or the entry it reverses)
    was already taken — the balance has moved then, and the caller gives the points back."""
    member_id = entry.member_id
    if connection.vendor != "postgresql":
        balance = _move_balance(member_id, lifetime_delta, spendable_delta)
        if balance is None or balance is _NO_MEMBER:
            return balance, False
        return balance, _insert_entry(entry)
    adds = lifetime_delta >= 0 and spendable_delta >= 0
    params = [lifetime_delta, spendable_delta, timezone.now(), member_id]
    if not adds:
        params += [spendable_delta, lifetime_delta]
    if _ENTRY_VALUES_PLAIN:
        params += [getattr(entry, attname) for attname in _ENTRY_FIELD_ATTNAMES]
    else:
        params += [field.get_db_prep_save(getattr(entry, field.attname), connection) for field in _ENTRY_FIELDS]
    sql = _posting_sql(adds=adds)
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            # As in _move_balance: no balance row yet, or too few points. Make sure the row exists, then try again.
            if not _ensure_balance_row(member_id):
                return _NO_MEMBER, False
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        return None, False
    if row[-1] is None:
        return _balance_from_row(row[:-1]), False
    entry.pk = row[-1]
    entry._state.adding = False
    entry._state.db = connection.alias
    return _balance_from_row(row[:-1]), True


def _post(
    *,
    member: Member,
    kind: str,
    lifetime_delta: int,
    spendable_delta: int,
    reason: str,
    idempotency_key: str,
    actor: Any | None = None,
    rule: PointRule | None = None,
    source: models.Model | None = None,
    expires_at: datetime | None = None,
    reverses: PointEntry | None = None,
) -> LedgerResult:
    _check_key(idempotency_key)
    if not getattr(actor, "is_authenticated", False):
        actor = None
    source_type = ContentType.objects.get_for_model(source) if source is not None else None
    entry = _new_entry(
        {
            "member_id": member.pk,
            "kind": kind,
            "lifetime_delta": lifetime_delta,
            "spendable_delta": spendable_delta,
            "reason": (reason or kind)[:200],
            "rule_id": rule.pk if rule is not None else None,
            "rule_version": rule.version if rule is not None else None,
            "source_type_id": source_type.pk if source_type is not None else None,
            "source_id": str(source.pk) if source is not None else "",
            "idempotency_key": idempotency_key,
            "reverses_id": reverses.pk if reverses is not None else None,
            "expires_at": expires_at,
            "actor_id": actor.pk if actor is not None else None,
            "created_at": timezone.now(),
        },
        (member, rule, source_type, actor, reverses),
    )
    # The balance moves first: its row lock orders concurrent postings for the member, and a refusal (too few
    # points) leaves nothing to undo. There is no savepoint (two round trips saved on every award), so refusals
    # are raised only after the block has closed cleanly: a caller's transaction stays usable.
    refusal: ServiceError | None = None
    with transaction.atomic(savepoint=False):
        balance, inserted = _post_entry(entry, lifetime_delta, spendable_delta)
        if balance is _NO_MEMBER:
            refusal = _no_such_member()
        elif balance is None:
            existing = PointEntry.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:  # a replay of a posting already made
                return LedgerResult(existing, False)
            refusal = ServiceError(_("Not enough points."), field="amount", code="insufficient_points")
        elif not inserted:
            # Already posted (a retry, or a concurrent twin that committed first): give the points back.
            _move_balance(member.pk, -lifetime_delta, -spendable_delta)
            existing = PointEntry.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return LedgerResult(existing, False)
            # The conflict was not the key (e.g. a second reversal of one entry).
            refusal = ServiceError(_("This change was already made."), code="duplicate")
        else:
            if entry.actor is not None:
                # model_snapshot(entry) less its JSON round trip, which audit_record makes anyway.
                after = {field.name: getattr(entry, field.attname) for field in _ENTRY_CONCRETE}
                audit_record(actor=actor, action=f"points.{kind}", obj=entry, after=after)
            posted = PostedEntry(
                member.pk,
                lifetime_delta,
                spendable_delta,
                entry.created_at,
                balance.lifetime,
                balance.segments,
                balance.level_known,
                balance.level_id,
                balance.level_below,
            )
            _after_post([posted], members={member.pk: member})
            if kind == Kind.EARN:
                _publish_awarded(entry.pk, member.pk, lifetime_delta, entry.reason, idempotency_key, entry.created_at)
    if refusal is not None:
        raise refusal
    return LedgerResult(entry, True, (balance.lifetime, balance.spendable))


def _awarded_payload(
    entry_id: int, member_id: int, points: int, reason: str, idempotency_key: str, created_at: str
) -> dict[str, Any]:
    return {
        "entry_id": entry_id,
        "member_id": member_id,
        "points": points,
        "reason": reason,
        "idempotency_key": idempotency_key,
        "created_at": created_at,
    }


def _publish_awarded(
    entry_id: int, member_id: int, points: int, reason: str, idempotency_key: str, created_at: datetime
) -> None:
    """Announce an award to webhooks (after commit; see community.domain_events)."""
    domain_events.publish(
        "points.awarded",
        _awarded_payload(entry_id, member_id, points, reason, idempotency_key, created_at.isoformat()),
    )


def _after_post(posted: Sequence[PostedEntry], *, members: Mapping[int, Member] | None = None) -> None:
    """Tell the capabilities that follow balances: leaderboards, levels and badges. `members`: member objects
    the caller holds, which a level-up message then need not load."""
    from rewards.services import badges, leaderboards, levels

    leaderboards.leaderboard_entries_posted(entries=posted)
    moved = [p for p in posted if p.lifetime_delta]
    if not moved:
        return
    thresholds, activity_floor = levels.level_watch_points()
    thresholds = thresholds | badges.badge_watch_points()
    changed = [p for p in moved if _may_change_level(p, thresholds, activity_floor)]
    if changed:
        # What the posting read with the balance (under its lock) spares levels a read of the member's state: a
        # first level or a promotion is written at once. Only for a member posted once here, so it is the last.
        once = Counter(p.member_id for p in changed)
        known = {
            p.member_id: levels.KnownLevel(p.lifetime_after, p.level_id)
            for p in changed
            if p.level_known and p.lifetime_after is not None and once[p.member_id] == 1
        }
        levels.levels_evaluate(member_ids=[p.member_id for p in changed], known=known, members=members)
        badges.badges_evaluate(member_ids=sorted({p.member_id for p in changed}), trigger="points")


def _may_change_level(entry: PostedEntry, thresholds: frozenset[int], activity_floor: int | None) -> bool:
    """Whether this entry can change the member's level or a points badge: only when their lifetime points
    crossed a threshold, or reached a level that also asks for activity (which any new activity may meet) and
    the level they hold is not simply the one their points reach."""
    if entry.lifetime_after is None:
        return True
    before = entry.lifetime_after - entry.lifetime_delta
    if before <= 0:  # the first points: the entry level
        return True
    low, high = sorted((before, entry.lifetime_after))
    if any(low < threshold <= high for threshold in thresholds):
        return True
    if activity_floor is None or high < activity_floor:
        return False
    if not entry.level_known:
        return True
    from rewards.services.levels import level_may_change

    return level_may_change(lifetime=entry.lifetime_after, level_id=entry.level_id, below=entry.level_below)


def points_award(
    *,
    member: Member,
    amount: int,
    reason: str,
    idempotency_key: str,
    actor: Any | None = None,
    rule: PointRule | None = None,
    source: models.Model | None = None,
    expires_at: datetime | None = None,
) -> LedgerResult:
    """Give a member points (both balances). The same idempotency key awards once."""
    _check_amount(amount)
    return _post(
        member=member,
        kind=Kind.EARN,
        lifetime_delta=amount,
        spendable_delta=amount,
        reason=reason,
        idempotency_key=idempotency_key,
        actor=actor,
        rule=rule,
        source=source,
        expires_at=expires_at,
    )


def points_deduct(
    *,
    member: Member,
    amount: int,
    reason: str,
    idempotency_key: str,
    actor: Any | None = None,
    rule: PointRule | None = None,
    source: models.Model | None = None,
) -> LedgerResult | None:
    """Take points away (a penalty), never below zero: the deduction is capped at what the member has.

    Returns None when the member has no points to take.
    """
    _check_amount(amount)
    with transaction.atomic():
        if not _ensure_balance_row(member.pk):
            raise _no_such_member()
        balance = PointBalance.objects.select_for_update().get(member_id=member.pk)
        existing = PointEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return LedgerResult(existing, False)
        spendable_cut = min(amount, balance.spendable)
        lifetime_cut = min(amount, balance.lifetime)
        if not (spendable_cut or lifetime_cut):
            return None
        return _post(
            member=member,
            kind=Kind.DEDUCT,
            lifetime_delta=-lifetime_cut,
            spendable_delta=-spendable_cut,
            reason=reason,
            idempotency_key=idempotency_key,
            actor=actor,
            rule=rule,
            source=source,
        )


def points_spend(
    *,
    member: Member,
    amount: int,
    reason: str,
    idempotency_key: str,
    actor: Any | None = None,
    source: models.Model | None = None,
) -> LedgerResult:
    """Spend points (the shop). Refused with ServiceError(code="insufficient_points") if the member has too few."""
    _check_amount(amount)
    return _post(
        member=member,
        kind=Kind.SPEND,
        lifetime_delta=0,
        spendable_delta=-amount,
        reason=reason,
        idempotency_key=idempotency_key,
        actor=actor,
        source=source,
    )


def points_refund(
    *,
    member: Member,
    amount: int,
    reason: str,
    idempotency_key: str,
    actor: Any | None = None,
    source: models.Model | None = None,
) -> LedgerResult:
    """Give back spent points (a cancelled redemption): spendable only."""
    _check_amount(amount)
    return _post(
        member=member,
        kind=Kind.REFUND,
        lifetime_delta=0,
        spendable_delta=amount,
        reason=reason,
        idempotency_key=idempotency_key,
        actor=actor,
        source=source,
    )


def points_expire(*, member: Member, amount: int, reason: str, idempotency_key: str) -> LedgerResult:
    """Expire unspent points (the expiry job): spendable only; lifetime and levels are kept."""
    _check_amount(amount)
    return _post(
        member=member,
        kind=Kind.EXPIRE,
        lifetime_delta=0,
        spendable_delta=-amount,
        reason=reason,
        idempotency_key=idempotency_key,
    )


def points_reverse(*, entry: PointEntry, actor: Any, reason: str) -> LedgerResult:
    """Undo an entry with a new, opposite entry (never by editing it). Each entry can be reversed once."""
    if entry.kind == Kind.REVERSAL:
        raise ServiceError(_("A reversal cannot itself be reversed; make a new entry instead."))
    return _post(
        member=entry.member,
        kind=Kind.REVERSAL,
        lifetime_delta=-entry.lifetime_delta,
        spendable_delta=-entry.spendable_delta,
        reason=reason or _("Reversal"),
        idempotency_key=f"reversal:{entry.pk}",
        actor=actor,
        reverses=entry,
    )


# The bulk path lives in its own module; it is part of this one's interface.
from rewards.services.ledger_bulk import BULK_BATCH, BulkAward, points_award_bulk  # noqa: E402

__all__ = [
    "BULK_BATCH",
    "BulkAward",
    "LedgerResult",
    "PostedEntry",
    "points_award",
    "points_award_bulk",
    "points_deduct",
    "points_expire",
    "points_refund",
    "points_reverse",
    "points_spend",
]
