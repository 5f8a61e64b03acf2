from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["CheckIn", "MemberStreak", "StreakBonus"]


class CheckIn(models.Model):
    """A member's daily check-in: at most one per day in the member's own time zone (the database enforces it)."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="check_ins")
    local_date = models.DateField(_("day (member's time zone)"))
    # The streak this check-in made, kept so history and badges can read it without replaying the days.
    streak = models.PositiveIntegerField(_("streak"), default=1)
    created_at = models.DateTimeField(_("checked in at"), default=timezone.now)

    class Meta:
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        ordering = ["-local_date", "-id"]
        constraints = [models.UniqueConstraint(fields=["member", "local_date"], name="check_in_once_per_day")]

    def __str__(self) -> str:
        return f"{self.member_id} @ {self.local_date}"


class MemberStreak(models.Model):
    """A member's run of consecutive check-in days (current) and their best run (longest)."""

    member = models.OneToOneField(
        "members.Member", primary_key=True, on_delete=models.CASCADE, related_name="check_in_streak"
    )
    current = models.PositiveIntegerField(_("current streak"), default=0)
    longest = models.PositiveIntegerField(_("longest streak"), default=0)
    last_local_date = models.DateField(_("last check-in day"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("check-in streak")
        verbose_name_plural = _("check-in streaks")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.current} (best {self.longest})"


class StreakBonus(models.Model):
    """Extra points when a check-in streak reaches a number of days (e.g. +5 at 7 days, +20 at 30)."""

    name = models.CharField(_("name"), max_length=100)
    days = models.PositiveIntegerField(_("streak length (days)"), unique=True, validators=[MinValueValidator(2)])
    points = models.PositiveIntegerField(
        _("bonus points"), validators=[MinValueValidator(1), MaxValueValidator(1_000_000)]
    )
    repeats = models.BooleanField(
        _("repeats"),
        default=False,
        help_text=_("Award again every time the streak grows by this many days (at 7, 14, 21, … for 7)."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("streak bonus")
        verbose_name_plural = _("streak bonuses")
        ordering = ["days"]
        constraints = [
            models.CheckConstraint(condition=models.Q(days__gte=2), name="streak_bonus_days_at_least_two"),
            models.CheckConstraint(
                condition=models.Q(points__gte=1, points__lte=1_000_000), name="streak_bonus_points_bounded"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.days}: +{self.points})"

    def applies_to(self, streak: int) -> bool:
        if not self.is_active or streak < self.days:
            return False
        return streak % self.days == 0 if self.repeats else streak == self.days
