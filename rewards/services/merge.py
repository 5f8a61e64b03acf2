"""Rewards' part of merging two member records of one person (called by integrations.services.merge).

Points move through the ledger, never by editing it: the source gets a deduction of everything it holds, the
target an award of the source's lifetime points and a spend of what the source had already spent, so both
balances and both histories still add up. Badge awards, check-ins and redemptions move to the target:

- a badge both hold: the earlier award is kept, the later one is revoked (its assertion answers "revoked");
- a check-in on a day both checked in: the target's counts, the source's stays on the source's record; the
  streak is recomputed over the merged days;
- redemptions keep their idempotency key unless the target used the same one (then it becomes
  `merged:<source id>:<redemption id>`).

The level follows from the moved points (levels_evaluate runs after the award). The source's point entries,
balance, level and leaderboard history stay on the source's record: they are its true history.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from community.services import audit_record
from members.models import Member
from rewards.models import BadgeAward, CheckIn, MemberStreak, PointBalance, Redemption
from rewards.services.ledger import points_award, points_deduct, points_spend

MERGE_REASON_MAX = 200


def _move_points(*, actor: Any, source: Member, target: Member) -> int:
    balance = PointBalance.objects.select_for_update().filter(member_id=source.pk).first()
    if balance is None or not (balance.lifetime or balance.spendable):
        return 0
    lifetime, spendable = balance.lifetime, balance.spendable
    key = f"merge:{source.pk}:{target.pk}"
    reason = _("Merged member records")
    # The deduction is capped per balance, so asking for the larger takes exactly what the source holds.
    points_deduct(
        member=source, amount=max(lifetime, spendable), reason=reason, idempotency_key=f"{key}:out", actor=actor
    )
    if lifetime:
        points_award(member=target, amount=lifetime, reason=reason, idempotency_key=f"{key}:in", actor=actor)
        if lifetime > spendable:
            points_spend(
                member=target, amount=lifetime - spendable, reason=reason, idempotency_key=f"{key}:spent", actor=actor
            )
    elif spendable:  # refunds can leave spendable points without lifetime ones
        points_award(member=target, amount=spendable, reason=reason, idempotency_key=f"{key}:in", actor=actor)
    return lifetime


def _move_badges(*, actor: Any, source: Member, target: Member) -> tuple[int, int]:
    """(awards moved, later duplicates revoked)."""
    now = timezone.now()
    revoker = actor if getattr(actor, "is_authenticated", False) else None
    reason = _("Merged member records: the earlier award is kept.")[:MERGE_REASON_MAX]
    held = {
        award.badge_id: award
        for award in BadgeAward.objects.select_for_update().filter(member=target, revoked_at__isnull=True)
    }
    revoked = 0
    for award in BadgeAward.objects.select_for_update().filter(member=source, revoked_at__isnull=True):
        kept = held.get(award.badge_id)
        if kept is None:
            continue
        later = award if (award.awarded_at, award.pk) >= (kept.awarded_at, kept.pk) else kept
        BadgeAward.objects.filter(pk=later.pk).update(revoked_at=now, revoked_reason=reason, revoked_by=revoker)
        revoked += 1
    moved = BadgeAward.objects.filter(member=source).update(member=target)
    return moved, revoked


def _runs(days: list[date]) -> tuple[int, int]:
    """(longest run of consecutive days, the run ending on the last day) over sorted distinct days."""
    longest = current = 0
    previous: date | None = None
    for day in days:
        current = current + 1 if previous is not None and day == previous + timedelta(days=1) else 1
        longest = max(longest, current)
        previous = day
    return longest, current


def _move_check_ins(*, source: Member, target: Member) -> tuple[int, int]:
    """(check-ins moved, same-day ones left on the source's record); the target's streak then covers both
    records' days. A day both checked in stays the target's; the source's check-in of that day is not deleted
    (ledger entries may name it as their source), it stays with the source's history."""
    MemberStreak.objects.bulk_create([MemberStreak(member=target)], ignore_conflicts=True)
    streak = MemberStreak.objects.select_for_update().get(member=target)
    source_streak = MemberStreak.objects.filter(member=source).first()
    target_days = CheckIn.objects.filter(member=target).values("local_date")
    same_day = CheckIn.objects.filter(member=source, local_date__in=target_days).count()
    moved = CheckIn.objects.filter(member=source).exclude(local_date__in=target_days).update(member=target)
    days = sorted(CheckIn.objects.filter(member=target).values_list("local_date", flat=True))
    if days:
        longest, current = _runs(days)
        streak.longest = max(longest, streak.longest, source_streak.longest if source_streak else 0)
        streak.current = current
        streak.last_local_date = days[-1]
        streak.save(update_fields=["current", "longest", "last_local_date", "updated_at"])
    return moved, same_day


def _move_redemptions(*, source: Member, target: Member) -> int:
    taken = Redemption.objects.filter(member=target).values_list("idempotency_key", flat=True)
    Redemption.objects.filter(member=source, idempotency_key__in=taken).update(
        idempotency_key=Concat(Value(f"merged:{source.pk}:"), Cast("id", CharField()), output_field=CharField())
    )
    return Redemption.objects.filter(member=source).update(member=target)


@transaction.atomic
def rewards_member_merge(*, source: Member, target: Member, actor: Any) -> dict[str, int]:
    """Move `source`'s rewards to `target` (see the module docstring); returns the counts, audited."""
    if source.pk == target.pk:
        raise ValueError("source and target must be two different members")
    points = _move_points(actor=actor, source=source, target=target)
    badges, badges_revoked = _move_badges(actor=actor, source=source, target=target)
    check_ins, check_ins_same_day = _move_check_ins(source=source, target=target)
    moved = {
        "points": points,
        "badge_awards": badges,
        "badge_awards_revoked": badges_revoked,
        "check_ins": check_ins,
        "check_ins_same_day": check_ins_same_day,
        "redemptions": _move_redemptions(source=source, target=target),
    }
    audit_record(
        actor=actor,
        action="rewards.member_merge",
        obj=target,
        before={"source_member_id": source.pk, "target_member_id": target.pk},
        after=moved,
    )
    return moved
