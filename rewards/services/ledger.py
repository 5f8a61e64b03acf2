"""The points ledger: the only code that writes PointEntry and PointBalance.

Every movement is one append-only entry plus a conditional update of the member's balance row in the same
transaction. The entry's unique idempotency key makes a retried or raced request land once; the balance
update is a single `UPDATE … SET spendable = spendable + n WHERE …` so concurrent requests never lose a point,
and the database's check constraint keeps spendable ≥ 0 even if code were wrong.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from community import domain_events
from community.errors import ServiceError
from community.services import audit_record, model_snapshot
from members.models import Member
from rewards.models import MAX_ENTRY_POINTS, PointBalance, PointEntry, PointRule

logger = logging.getLogger(__name__)
Kind = PointEntry.Kind


@dataclass(frozen=True)
class LedgerResult:
    entry: PointEntry
    created: bool


@dataclass(frozen=True)
class PostedEntry:
    """What downstream consumers (leaderboards, levels, badges) need to know about a new entry."""

    member_id: int
    lifetime_delta: int
    spendable_delta: int
    created_at: datetime


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


def _ensure_balance_row(member_id: int) -> None:
    PointBalance.objects.bulk_create([PointBalance(member_id=member_id)], ignore_conflicts=True)


def _apply_to_balance(member_id: int, lifetime_delta: int, spendable_delta: int) -> None:
    """Move the balance in one conditional UPDATE; refuse (nothing changes) if spendable would go below zero."""
    guard = models.Q(member_id=member_id)
    if spendable_delta < 0:
        guard &= models.Q(spendable__gte=-spendable_delta)
    if lifetime_delta < 0:
        guard &= models.Q(lifetime__gte=-lifetime_delta)
    changes = {
        "lifetime": F("lifetime") + lifetime_delta,
        "spendable": F("spendable") + spendable_delta,
        "updated_at": timezone.now(),
    }
    if PointBalance.objects.filter(guard).update(**changes):
        return
    # No row matched: either the member has too few points, or has no balance row yet (possibly being created
    # by a concurrent first award, which the insert below waits for). Make sure the row exists, then retry.
    _ensure_balance_row(member_id)
    if PointBalance.objects.filter(guard).update(**changes):
        return
    raise ServiceError(_("Not enough points."), field="amount", code="insufficient_points")


def _source_fields(source: models.Model | None) -> dict[str, Any]:
    if source is None:
        return {"source_type": None, "source_id": ""}
    return {"source_type": ContentType.objects.get_for_model(source), "source_id": str(source.pk)}


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
    entry = PointEntry(
        member=member,
        kind=kind,
        lifetime_delta=lifetime_delta,
        spendable_delta=spendable_delta,
        reason=(reason or kind)[:200],
        rule=rule,
        rule_version=rule.version if rule is not None else None,
        idempotency_key=idempotency_key,
        expires_at=expires_at,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        reverses=reverses,
        **_source_fields(source),
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                entry.save()
        except IntegrityError:
            existing = PointEntry.objects.filter(idempotency_key=idempotency_key).first()
            if existing is None:  # the conflict was not the key (e.g. a second reversal of one entry)
                raise ServiceError(_("This change was already made."), code="duplicate") from None
            return LedgerResult(existing, False)
        _apply_to_balance(member.pk, lifetime_delta, spendable_delta)
        if entry.actor is not None:
            audit_record(actor=actor, action=f"points.{kind}", obj=entry, after=model_snapshot(entry))
        _after_post([PostedEntry(member.pk, lifetime_delta, spendable_delta, entry.created_at)])
        if kind == Kind.EARN:
            _publish_awarded(entry.pk, member.pk, lifetime_delta, entry.reason, idempotency_key, entry.created_at)
    return LedgerResult(entry, True)


def _publish_awarded(
    entry_id: int, member_id: int, points: int, reason: str, idempotency_key: str, created_at: datetime
) -> None:
    """Announce an award to webhooks (after commit; see community.domain_events)."""
    domain_events.publish(
        "points.awarded",
        {
            "entry_id": entry_id,
            "member_id": member_id,
            "points": points,
            "reason": reason,
            "idempotency_key": idempotency_key,
            "created_at": created_at.isoformat(),
        },
    )


def _after_post(posted: Sequence[PostedEntry]) -> None:
    """Tell the capabilities that follow balances: leaderboards, levels and badges."""
    from rewards.services import badges, leaderboards, levels

    leaderboards.leaderboard_entries_posted(entries=posted)
    changed = sorted({p.member_id for p in posted if p.lifetime_delta})
    if changed:
        levels.levels_evaluate(member_ids=changed)
        badges.badges_evaluate(member_ids=changed, trigger="points")


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
        _ensure_balance_row(member.pk)
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


@dataclass(frozen=True)
class BulkAward:
    member_id: int
    amount: int
    idempotency_key: str
    reason: str
    rule: PointRule | None = None
    source: models.Model | None = None
    expires_at: datetime | None = None


_BULK_COLUMNS = (
    "member_id",
    "kind",
    "lifetime_delta",
    "spendable_delta",
    "reason",
    "rule_id",
    "rule_version",
    "source_type_id",
    "source_id",
    "idempotency_key",
    "expires_at",
    "actor_id",
    "created_at",
)


def points_award_bulk(*, awards: Sequence[BulkAward], actor: Any | None = None, batch_size: int = 1000) -> int:
    """Award many members at once (an event's attendees): multi-row INSERTs that skip keys already used, then
    one balance UPDATE per batch. Returns how many entries were new."""
    for award in awards:
        _check_amount(award.amount)
        _check_key(award.idempotency_key)
    now = timezone.now()
    ops = connection.ops
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    content_types: dict[type, int] = {}
    table = PointEntry._meta.db_table
    posted: list[PostedEntry] = []
    with transaction.atomic():
        for start in range(0, len(awards), batch_size):
            batch = awards[start : start + batch_size]
            params: list[Any] = []
            for award in batch:
                source_type_id = None
                if award.source is not None:
                    model = type(award.source)
                    if model not in content_types:
                        content_types[model] = ContentType.objects.get_for_model(model).pk
                    source_type_id = content_types[model]
                params += [
                    award.member_id,
                    Kind.EARN.value,
                    award.amount,
                    award.amount,
                    award.reason[:200],
                    award.rule.pk if award.rule else None,
                    award.rule.version if award.rule else None,
                    source_type_id,
                    str(award.source.pk) if award.source is not None else "",
                    award.idempotency_key,
                    ops.adapt_datetimefield_value(award.expires_at),
                    actor_id,
                    ops.adapt_datetimefield_value(now),
                ]
            with connection.cursor() as cursor:
                cursor.execute(*_bulk_insert_statement(table, params, len(batch)))
                inserted = cursor.fetchall()
            per_member: dict[int, int] = defaultdict(int)
            reasons = {award.idempotency_key: award.reason[:200] for award in batch}
            for member_id, delta, entry_id, key in inserted:
                per_member[member_id] += delta
                posted.append(PostedEntry(member_id, delta, delta, now))
                _publish_awarded(entry_id, member_id, delta, reasons.get(key, ""), key, now)
            _bulk_add_to_balances(per_member)
        if posted:
            _after_post(posted)
    return len(posted)


# PostgreSQL array type of each bulk column, for the unnest() form of the insert.
_BULK_ARRAY_TYPES = (
    "bigint[]",
    "text[]",
    "integer[]",
    "integer[]",
    "text[]",
    "bigint[]",
    "integer[]",
    "integer[]",
    "text[]",
    "text[]",
    "timestamptz[]",
    "bigint[]",
    "timestamptz[]",
)
_BULK_RETURNING = "ON CONFLICT (idempotency_key) DO NOTHING RETURNING member_id, lifetime_delta, id, idempotency_key"


def _bulk_insert_statement(table: str, params: list[Any], rows: int) -> tuple[str, list[Any]]:
    """The multi-row insert for one batch. On PostgreSQL each column goes as one array parameter through
    unnest(): thirteen parameters instead of thirteen per row, which the driver would otherwise parse one by one."""
    width = len(_BULK_COLUMNS)
    columns = ", ".join(_BULK_COLUMNS)
    if connection.vendor == "postgresql":
        arrays = [params[index::width] for index in range(width)]
        unnest = ", ".join(f"%s::{array_type}" for array_type in _BULK_ARRAY_TYPES)
        sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({unnest}) {_BULK_RETURNING}"  # noqa: S608
        return sql, arrays
    row = "(" + ", ".join(["%s"] * width) + ")"
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)} {_BULK_RETURNING}", params  # noqa: S608


def _bulk_add_to_balances(per_member: dict[int, int]) -> None:
    if not per_member:
        return
    PointBalance.objects.bulk_create([PointBalance(member_id=m) for m in per_member], ignore_conflicts=True)
    table = PointBalance._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS b SET lifetime = b.lifetime + v.delta, spendable = b.spendable + v.delta, "  # noqa: S608
                "updated_at = now() FROM unnest(%s::bigint[], %s::bigint[]) AS v(member_id, delta) "
                "WHERE b.member_id = v.member_id",
                [list(per_member), list(per_member.values())],
            )
        return
    for member_id, delta in per_member.items():
        PointBalance.objects.filter(member_id=member_id).update(
            lifetime=F("lifetime") + delta, spendable=F("spendable") + delta, updated_at=timezone.now()
        )
