"""Daily check-in: one per day in the member's own time zone, with streaks and streak bonuses.

The check-in is recorded on the activity stream as "checked_in", so the point rules decide what it earns;
streak bonuses are extra ledger entries keyed by member, bonus and day, so a retry never pays twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from community import services as community_services
from community.services import audit_record, local_date_for, model_snapshot
from members.models import Member
from rewards.models import CheckIn, MemberStreak, StreakBonus
from rewards.services.ledger import points_award
from rewards.services.rules import points_for_activity

CHECKED_IN = "checked_in"

# (days, name msgid, points, repeats)
DEFAULT_STREAK_BONUSES: tuple[tuple[int, str, int, bool], ...] = (
    (7, gettext_noop("7-day check-in streak"), 5, True),
    (30, gettext_noop("30-day check-in streak"), 20, True),
)


@dataclass(frozen=True)
class CheckInResult:
    created: bool
    check_in: CheckIn
    local_date: date
    points: int  # everything this check-in earned (rules and bonuses); 0 when already checked in
    bonus_points: int
    current_streak: int
    longest_streak: int

    @property
    def already_checked_in(self) -> bool:
        return not self.created


def _next_streak(streak: MemberStreak, local_date: date) -> int | None:
    """The streak after checking in on `local_date`, or None when the day is not after the last one."""
    last = streak.last_local_date
    if last is not None and local_date <= last:
        return None
    return streak.current + 1 if last == local_date - timedelta(days=1) else 1


def checkin_perform(*, member: Member, now: datetime | None = None) -> CheckInResult:
    """Check the member in for today (their time zone). A second call on the same day — even one racing this
    one — changes nothing and says so."""
    now = now or timezone.now()
    local_date = local_date_for(member, now)
    with transaction.atomic():
        # Locking the streak row first makes a member's check-ins queue up; the unique (member, day) constraint
        # is what guarantees one per day regardless.
        MemberStreak.objects.bulk_create([MemberStreak(member=member)], ignore_conflicts=True)
        streak = MemberStreak.objects.select_for_update().get(member=member)
        new_streak = _next_streak(streak, local_date)
        try:
            with transaction.atomic():
                check_in = CheckIn.objects.create(
                    member=member, local_date=local_date, streak=new_streak or 1, created_at=now
                )
        except IntegrityError:
            existing = CheckIn.objects.get(member=member, local_date=local_date)
            return CheckInResult(
                created=False,
                check_in=existing,
                local_date=local_date,
                points=0,
                bonus_points=0,
                current_streak=streak.current,
                longest_streak=streak.longest,
            )
        if new_streak is not None:  # a day before the last check-in (a back-dated call) leaves the streak alone
            streak.current = new_streak
            streak.longest = max(streak.longest, new_streak)
            streak.last_local_date = local_date
            streak.save(update_fields=["current", "longest", "last_local_date", "updated_at"])
        # Recorded through the stream so the point rules (and badges) react to it in this transaction.
        activity = community_services.record_activity(
            member=member,
            verb=CHECKED_IN,
            target=check_in,
            occurred_at=now,
            data={"local_date": local_date.isoformat(), "streak": check_in.streak},
        )
        rule_points = points_for_activity(activity=activity, since=min(now, timezone.now()) - timedelta(minutes=5))
        bonus_points = _award_streak_bonuses(member=member, check_in=check_in, streak=new_streak)
    return CheckInResult(
        created=True,
        check_in=check_in,
        local_date=local_date,
        points=rule_points + bonus_points,
        bonus_points=bonus_points,
        current_streak=streak.current,
        longest_streak=streak.longest,
    )


def _award_streak_bonuses(*, member: Member, check_in: CheckIn, streak: int | None) -> int:
    if not streak or streak < 2:
        return 0
    total = 0
    for bonus in StreakBonus.objects.filter(is_active=True, days__lte=streak):
        if not bonus.applies_to(streak):
            continue
        result = points_award(
            member=member,
            amount=bonus.points,
            reason=bonus.name,
            source=check_in,
            idempotency_key=f"streak_bonus:{member.pk}:{check_in.local_date.isoformat()}:{bonus.pk}",
        )
        if result.created:
            total += bonus.points
    return total


# --- operator changes -------------------------------------------------------------------------------------


def streak_bonuses_install_defaults(*, actor: Any | None = None) -> int:
    """Create the default streak bonuses whose streak length has none yet. Returns how many were created."""
    created = 0
    with transaction.atomic():
        taken = set(StreakBonus.objects.values_list("days", flat=True))
        for days, name, points, repeats in DEFAULT_STREAK_BONUSES:
            if days in taken:
                continue
            bonus = StreakBonus.objects.create(days=days, name=name, points=points, repeats=repeats)
            audit_record(actor=actor, action="streak_bonus.create", obj=bonus, after=model_snapshot(bonus))
            created += 1
    return created
