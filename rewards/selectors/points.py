"""Reads for the points pages and API: a member's balances, level, progress and streak; levels; rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from community.services import local_date_for
from members.models import Member
from rewards.models import Level, MemberLevel, MemberStreak, PointEntry, PointRule


@dataclass(frozen=True)
class PointsSummary:
    lifetime: int
    spendable: int
    level: Level | None
    next_level: Level | None
    below_since: datetime | None
    grace_until: datetime | None  # when a member below their level moves down, unless they catch up
    current_streak: int
    longest_streak: int
    checked_in_today: bool
    today: date

    @property
    def points_to_next(self) -> int | None:
        return max(0, self.next_level.threshold - self.lifetime) if self.next_level else None

    @property
    def progress_percent(self) -> int:
        """How far from the current level's threshold to the next one (100 at the top of the ladder)."""
        if self.next_level is None:
            return 100
        floor = self.level.threshold if self.level else 0
        span = self.next_level.threshold - floor
        if span <= 0:
            return 100
        return max(0, min(100, (self.lifetime - floor) * 100 // span))


def streak_current_on(streak: MemberStreak, today: date) -> int:
    """The streak as it stands on `today`: alive while the member checked in today or yesterday, else 0."""
    if streak.last_local_date is None or streak.last_local_date < today - timedelta(days=1):
        return 0
    return streak.current


def points_summary_for_member(
    *, member: Member, now: datetime | None = None, ladder: list[Level] | None = None
) -> PointsSummary:
    """Everything the "My points" header shows, in two queries (the member's rows joined; the level ladder)."""
    today = local_date_for(member, now or timezone.now())
    row = (
        Member.objects.filter(pk=member.pk)
        .select_related("point_balance", "member_level__level", "check_in_streak")
        .get()
    )
    balance = getattr(row, "point_balance", None)
    member_level: MemberLevel | None = getattr(row, "member_level", None)
    streak: MemberStreak | None = getattr(row, "check_in_streak", None)
    lifetime = balance.lifetime if balance else 0
    ladder = level_list() if ladder is None else ladder
    level = member_level.level if member_level else None
    if level is None:  # never earned a point yet: shown at the entry level the ladder gives for free
        level = next((candidate for candidate in ladder if candidate.threshold <= 0), None)
    next_level = next(
        (candidate for candidate in ladder if candidate.threshold > (level.threshold if level else -1)), None
    )
    below_since = member_level.below_since if member_level else None
    grace_until = below_since + timedelta(days=level.demotion_grace_days) if below_since and level else None
    return PointsSummary(
        lifetime=lifetime,
        spendable=balance.spendable if balance else 0,
        level=level,
        next_level=next_level,
        below_since=below_since,
        grace_until=grace_until,
        current_streak=streak_current_on(streak, today) if streak else 0,
        longest_streak=streak.longest if streak else 0,
        checked_in_today=bool(streak and streak.last_local_date == today),
        today=today,
    )


def level_list() -> list[Level]:
    return list(Level.objects.order_by("threshold"))


def level_queryset() -> QuerySet[Level]:
    return Level.objects.order_by("threshold")


def entry_list(*, member: Member | None = None) -> QuerySet[PointEntry]:
    """Ledger entries, newest first: one member's, or everyone's (operators)."""
    entries = PointEntry.objects.order_by("-created_at", "-id")
    return entries.filter(member=member) if member is not None else entries


def member_entry_page(*, member: Member) -> QuerySet[PointEntry]:
    """A member's own history for the portal (reasons are on the entry; no join needed)."""
    return PointEntry.objects.filter(member=member).order_by("-created_at", "-id")


def rules_for_display(*, now: datetime | None = None) -> QuerySet[PointRule]:
    """Rules members can earn by now: active and inside their dates."""
    now = now or timezone.now()
    return (
        PointRule.objects.filter(is_active=True)
        .filter(Q(active_from__isnull=True) | Q(active_from__lte=now))
        .filter(Q(active_until__isnull=True) | Q(active_until__gt=now))
        .order_by("-points", "name")
    )
