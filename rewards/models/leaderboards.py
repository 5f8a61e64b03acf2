"""Leaderboards: the periods they cover, and frozen snapshots of finished periods.

Live boards are not stored here: they are Redis sorted sets (or computed from the ledger without Redis).
A period is identified by a kind and a key in the program's time zone (settings.TIME_ZONE):
all-time "all", a month "2026-11", an ISO week "2026-W47" and a day "2026-11-22".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["LeaderboardSnapshot", "LeaderboardSnapshotRow", "PeriodKind"]

ALL_TIME_KEY = "all"
_KEY_PATTERNS = {
    "all": re.compile(r"^all$"),
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "day": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
}


class PeriodKind(models.TextChoices):
    ALL = "all", _("all time")
    MONTH = "month", _("month")
    WEEK = "week", _("week")
    DAY = "day", _("day")


def program_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class Period:
    """One leaderboard period. `starts_at`/`ends_at` are None for all-time; otherwise [starts_at, ends_at)."""

    kind: str
    key: str
    starts_at: datetime | None
    ends_at: datetime | None

    @property
    def is_all_time(self) -> bool:
        return self.kind == PeriodKind.ALL

    def has_ended(self, now: datetime | None = None) -> bool:
        return self.ends_at is not None and self.ends_at <= (now or timezone.now())

    def next(self) -> Period:
        if self.ends_at is None:
            return self
        return period_containing(self.kind, self.ends_at)

    def previous(self) -> Period:
        if self.starts_at is None:
            return self
        return period_containing(self.kind, self.starts_at - timedelta(microseconds=1))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=program_zone())


def _period_from_local_day(kind: str, day: date) -> Period:
    if kind == PeriodKind.MONTH:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        key = f"{start:%Y-%m}"
    elif kind == PeriodKind.WEEK:
        iso = day.isocalendar()
        start = date.fromisocalendar(iso.year, iso.week, 1)
        end = start + timedelta(days=7)
        key = f"{iso.year:04d}-W{iso.week:02d}"
    elif kind == PeriodKind.DAY:
        start, end, key = day, day + timedelta(days=1), f"{day:%Y-%m-%d}"
    else:
        raise ValueError(f"Unknown period kind {kind!r}.")
    return Period(kind=kind, key=key, starts_at=_midnight(start), ends_at=_midnight(end))


def period_containing(kind: str, moment: datetime | None = None) -> Period:
    """The period of `kind` that `moment` (default: now) falls in, in the program's time zone."""
    if kind == PeriodKind.ALL:
        return Period(kind="all", key=ALL_TIME_KEY, starts_at=None, ends_at=None)
    moment = moment or timezone.now()
    return _period_from_local_day(kind, moment.astimezone(program_zone()).date())


def period_parse(kind: str, key: str | None = None) -> Period:
    """The period named by `kind` and `key` (None: the current one). Raises ValueError for bad input."""
    if kind not in _KEY_PATTERNS:
        raise ValueError(f"Unknown period kind {kind!r}.")
    if key is None or key == "":
        return period_containing(kind)
    match = _KEY_PATTERNS[kind].match(key)
    if not match:
        raise ValueError(f"{key!r} is not a {kind} key.")
    if kind == PeriodKind.ALL:
        return period_containing(kind)
    numbers = [int(part) for part in match.groups()]
    try:
        if kind == PeriodKind.MONTH:
            day = date(numbers[0], numbers[1], 1)
        elif kind == PeriodKind.WEEK:
            day = date.fromisocalendar(numbers[0], numbers[1], 1)
        else:
            day = date(*numbers)
    except ValueError:
        raise ValueError(f"{key!r} is not a {kind} key.") from None
    if day.year < 2000 or day.year > 9998:
        raise ValueError(f"{key!r} is out of range.")
    return _period_from_local_day(kind, day)


class LeaderboardSnapshot(models.Model):
    """A finished period's board, frozen: written once with its rows and never changed afterwards."""

    period_kind = models.CharField(_("period"), max_length=5, choices=PeriodKind.choices)
    period_key = models.CharField(_("period key"), max_length=10)
    # The segment the board covers ("" = every member); for now a member tag's name.
    segment = models.CharField(_("segment"), max_length=64, blank=True)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    member_count = models.PositiveIntegerField(_("members ranked"), default=0)
    frozen_at = models.DateTimeField(_("frozen at"), default=timezone.now)

    class Meta:
        verbose_name = _("leaderboard snapshot")
        verbose_name_plural = _("leaderboard snapshots")
        ordering = ["-ends_at", "period_kind", "segment"]
        constraints = [
            models.UniqueConstraint(fields=["period_kind", "period_key", "segment"], name="leaderboard_snapshot_once")
        ]
        indexes = [models.Index(fields=["period_kind", "segment", "-ends_at"], name="leaderboard_snapshot_latest")]

    def __str__(self) -> str:
        segment = f" [{self.segment}]" if self.segment else ""
        return f"{self.get_period_kind_display()} {self.period_key}{segment}"

    @property
    def period(self) -> Period:
        return period_parse(self.period_kind, self.period_key)


class LeaderboardSnapshotRow(models.Model):
    snapshot = models.ForeignKey(LeaderboardSnapshot, on_delete=models.CASCADE, related_name="rows")
    # Dense rank: members with equal points share a rank and the next points total takes the next number.
    rank = models.PositiveIntegerField(_("rank"))
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    points = models.BigIntegerField(_("points"))

    class Meta:
        verbose_name = _("leaderboard snapshot row")
        verbose_name_plural = _("leaderboard snapshot rows")
        ordering = ["rank", "-member_id"]
        constraints = [models.UniqueConstraint(fields=["snapshot", "member"], name="leaderboard_row_once")]
        indexes = [
            models.Index(fields=["snapshot", "rank"], name="leaderboard_row_rank"),
            models.Index(fields=["member", "rank"], name="leaderboard_row_member"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.member_id} ({self.points})"
