"""Analytics tables: daily rollups of the activity stream, cohort tables, KPI targets and experiments.

Rollups are derived data: `analytics.services.rollups.rollups_rebuild(start=…, end=…)` rewrites them for any range
from `community.Activity` and `members.Member`, and a test pins that they always agree with the raw stream.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MemberDay(models.Model):
    """One member active on one local day (the member's own time zone): the base of DAU/WAU/MAU and retention."""

    # Keyed by day first, not member: a day's rollup writes its rows next to each other at the end of this key
    # (no surrogate id to draw and index as well), a full rebuild sorts a date and a number, and "members active on
    # these days" reads the key alone. Nothing looks member-days up by member: a member's previous active day comes
    # from the stream's (member, day) index.
    pk = models.CompositePrimaryKey("day", "member")
    # Derived rows, rewritten by every rebuild: deleting a member deletes them (on_delete), but the column is not a
    # database foreign key, so a rebuild writes millions of rows without a per-row constraint trigger. No index
    # leads with it (see the key): deleting a member scans this table, a rare operator action traded for a nightly
    # rollup that writes every active member's day.
    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField(_("day"))
    # The member's segment when this day was rolled up; breakdowns by segment read it.
    segment = models.CharField(_("segment"), max_length=16)
    actions = models.PositiveIntegerField(_("actions"))
    # The distinct verbs of the day as ",verb_a,verb_b," so "did X in a range" is one indexed scan.
    verbs = models.TextField(_("verbs"))
    # The member's join day in the program's time zone and the days between it and `day` (cohorts, D1/D7/D30).
    joined_on = models.DateField(_("joined on"))
    days_since_join = models.IntegerField(_("days since joining"))
    # The member's previous active day (null for the first): "distinct members active in a window" is then the
    # number of member-days in the window whose previous day is before it, so WAU/MAU need no distinct count.
    prev_day = models.DateField(_("previous active day"), null=True, blank=True)
    # In the first 13 weeks after joining (the cohort table's): the member's active days so far in this week after
    # joining, this one included (1 … 7; null after). A member with at least n active days in a week has exactly one
    # day numbered n there, so a cohort cell "at least n days" counts member-days, with no grouping by member.
    week_active_days = models.PositiveSmallIntegerField(_("active days so far this week"), null=True, blank=True)

    class Meta:
        verbose_name = _("member day")
        verbose_name_plural = _("member days")
        indexes = [
            # Partial: only the member-days the readers look up by days since joining (D1/D7/D30 retention; keep in
            # step with `RETURN_DAYS`), so the nightly rollup updates a fraction of this index.
            models.Index(
                fields=["days_since_join", "day"],
                name="analytics_memberday_since",
                condition=Q(days_since_join__in=[1, 7, 30]),
            ),
            # The member-days of the first 13 weeks after joining by join day: the cohort table's cells, their
            # members, and the funnel's days 30 … 59 (keep in step with `COHORT_WEEKS`), read from the index alone.
            # A day's rollup adds each row at the end of its join day's run of entries, never in the middle.
            models.Index(
                fields=["joined_on", "days_since_join"],
                name="analytics_memberday_cohort",
                include=["member", "week_active_days"],
                condition=Q(days_since_join__gte=0, days_since_join__lte=90),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(week_active_days__isnull=True) | Q(week_active_days__gte=1, week_active_days__lte=7),
                name="analytics_memberday_week_active_days_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} @ {self.day}"


class DaySegment(models.Model):
    """Headline counts for one day and one segment; dashboards read these instead of the raw stream."""

    day = models.DateField(_("day"))
    segment = models.CharField(_("segment"), max_length=16)
    members = models.PositiveIntegerField(_("members in the program"), default=0)
    new_members = models.PositiveIntegerField(_("new members"), default=0)
    left_members = models.PositiveIntegerField(_("members who left"), default=0)
    dau = models.PositiveIntegerField(_("daily active members"), default=0)
    wau = models.PositiveIntegerField(_("weekly active members"), default=0)
    mau = models.PositiveIntegerField(_("monthly active members"), default=0)
    actions = models.PositiveIntegerField(_("actions"), default=0)
    check_ins = models.PositiveIntegerField(_("members who checked in"), default=0)
    # Members active that day by the days since their previous active day: item k is a gap of k + 1 days, the
    # last item 30 days or more (or no earlier day). WAU and MAU of any day are sums over the 7 or 30 days' lists.
    active_gaps = models.JSONField(_("active members by days since their previous active day"), default=list)
    # Members active that day whose join day was 1, 7 and 30 days before ({"1": n, "7": n, "30": n}): D1/D7/D30
    # retention of any join days is a sum over the days N later.
    retained = models.JSONField(_("members active N days after their join day"), default=dict)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("daily rollup")
        verbose_name_plural = _("daily rollups")
        ordering = ["-day", "segment"]
        constraints = [models.UniqueConstraint(fields=["day", "segment"], name="analytics_day_segment_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.segment}"


class DayVerb(models.Model):
    """Participation in one activity kind (verb) on one day, per segment."""

    day = models.DateField(_("day"))
    segment = models.CharField(_("segment"), max_length=16)
    verb = models.CharField(_("verb"), max_length=64)
    members = models.PositiveIntegerField(_("members"))
    actions = models.PositiveIntegerField(_("actions"))

    class Meta:
        verbose_name = _("daily participation")
        verbose_name_plural = _("daily participation")
        constraints = [models.UniqueConstraint(fields=["day", "segment", "verb"], name="analytics_day_verb_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.segment} {self.verb}"


class Cohort(models.Model):
    """Members who joined in one week (Monday, program time zone)."""

    week = models.DateField(_("week"), unique=True)
    size = models.PositiveIntegerField(_("members"))

    class Meta:
        verbose_name = _("cohort")
        verbose_name_plural = _("cohorts")
        ordering = ["week"]

    def __str__(self) -> str:
        return f"{self.week} ({self.size})"


class CohortCell(models.Model):
    """Members of a cohort active on at least `min_active_days` days in week `week_index` after joining."""

    cohort_week = models.DateField(_("cohort week"))
    week_index = models.PositiveSmallIntegerField(_("week after joining"))
    min_active_days = models.PositiveSmallIntegerField(_("minimum active days"))
    members = models.PositiveIntegerField(_("members"))

    class Meta:
        verbose_name = _("cohort cell")
        verbose_name_plural = _("cohort cells")
        constraints = [
            models.UniqueConstraint(
                fields=["cohort_week", "week_index", "min_active_days"], name="analytics_cohort_cell_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.cohort_week} W{self.week_index} >={self.min_active_days}"


class KpiTarget(models.Model):
    """An operator-set target for one KPI (e.g. MAU ≥ 300), checked daily over the last `window_days`."""

    class Comparison(models.TextChoices):
        AT_LEAST = "gte", _("at least")
        AT_MOST = "lte", _("at most")

    kpi = models.CharField(_("KPI"), max_length=64, unique=True)
    comparison = models.CharField(_("comparison"), max_length=3, choices=Comparison.choices)
    value = models.FloatField(_("target value"))
    window_days = models.PositiveSmallIntegerField(_("window (days)"), default=30)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("KPI target")
        verbose_name_plural = _("KPI targets")
        ordering = ["kpi"]
        constraints = [
            models.CheckConstraint(condition=Q(window_days__gte=1, window_days__lte=366), name="kpi_target_window")
        ]

    def __str__(self) -> str:
        return f"{self.kpi} {self.comparison} {self.value:g}"

    def is_met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.value if self.comparison == self.Comparison.AT_LEAST else value <= self.value


class KpiTargetCheck(models.Model):
    """The outcome of checking a target on one day: a second check of the same day changes nothing."""

    target = models.ForeignKey(KpiTarget, on_delete=models.CASCADE, related_name="checks")
    day = models.DateField(_("day"))
    value = models.FloatField(_("value"), null=True, blank=True)
    met = models.BooleanField(_("met"), null=True)
    checked_at = models.DateTimeField(_("checked at"), default=timezone.now)

    class Meta:
        verbose_name = _("KPI target check")
        verbose_name_plural = _("KPI target checks")
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["target", "day"], name="kpi_target_check_once_per_day")]

    def __str__(self) -> str:
        return f"{self.target_id} @ {self.day}"


class Experiment(models.Model):
    """An A/B test: members are assigned to a variant stickily; the outcome is doing `outcome_verb` afterwards."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        RUNNING = "running", _("running")
        STOPPED = "stopped", _("stopped")

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    outcome_verb = models.CharField(_("outcome action"), max_length=64)
    outcome_window_days = models.PositiveSmallIntegerField(_("outcome window (days)"), default=14)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome_window_days__gte=1, outcome_window_days__lte=365), name="experiment_window"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    """One arm of an experiment; the first by position is the control."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(_("key"), max_length=64)
    name = models.CharField(_("name"), max_length=120)
    weight = models.PositiveSmallIntegerField(_("weight"), default=1)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    # What the campaign does differently (a welcome text, a point value); read by whoever runs the campaign.
    config = models.JSONField(_("configuration"), default=dict, blank=True)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["experiment", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="variant_key_unique"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="variant_weight_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Assignment(models.Model):
    """A member's variant in an experiment: chosen once, deterministically, and kept."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="assignments")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    assigned_at = models.DateTimeField(_("assigned at"), default=timezone.now)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [models.UniqueConstraint(fields=["experiment", "member"], name="assignment_once_per_member")]
        indexes = [models.Index(fields=["experiment", "variant"], name="assignment_variant")]

    def __str__(self) -> str:
        return f"{self.member_id} -> {self.variant_id}"
