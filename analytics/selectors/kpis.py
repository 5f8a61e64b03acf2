"""The program's KPIs, each defined once. `kpis_compute` evaluates any of them over a period and a scope.

Conventions used by every definition below:
- a *day* is a member-local day (`Activity.local_date`): an action at 23:30 local time counts on that day;
- joining and leaving are dated in the program's time zone (`settings.TIME_ZONE`);
- a member is *in the program* on day d when they joined on or before d and had not left by the end of d;
- a member is *active* on a day when they have at least one activity that day (one `MemberDay` row).
Every figure is read from the daily rollups (or, for a tag / level / round, from the member-day rollup of the
members in it), so a dashboard never scans the raw stream.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from analytics.models import DaySegment, DayVerb, MemberDay
from analytics.selectors.cache import rollup_cached
from analytics.selectors.scope import Period, Scope, external
from analytics.services.rollups import CHECK_IN_VERB, RETURN_DAYS, day_bounds
from members.models import Member

logger = logging.getLogger(__name__)

COUNT, PERCENT, HOURS, SCORE, RATIO = "count", "percent", "hours", "score", "ratio"
RETENTION_DAYS = RETURN_DAYS


@dataclass
class DayTotals:
    members: int = 0
    new_members: int = 0
    left_members: int = 0
    dau: int = 0
    wau: int = 0
    mau: int = 0
    actions: int = 0
    check_ins: int = 0


DAY_FIELDS = ("members", "new_members", "left_members", "dau", "wau", "mau", "actions", "check_ins")


class KpiContext:
    """One period and scope; each source is read once (a query or two) and shared by every KPI asking for it."""

    def __init__(self, period: Period, scope: Scope | None = None) -> None:
        self.period = period
        self.scope = scope or Scope()

    @property
    def first_day(self) -> date:
        # The day before the period (growth rate) and the 30 days up to its end (stickiness) are read as well.
        return min(self.period.start - timedelta(days=1), self.period.end - timedelta(days=29))

    @cached_property
    def days(self) -> dict[date, DayTotals]:
        if self.scope.by_members:
            return _days_for_members(self.scope, self.first_day, self.period.end)
        rows = DaySegment.objects.filter(day__gte=self.first_day, day__lte=self.period.end)
        if self.scope.segment:
            rows = rows.filter(segment=self.scope.segment)
        totals: dict[date, DayTotals] = {}
        for row in rows.values("day").annotate(**{name: Sum(name) for name in DAY_FIELDS}):
            totals[row["day"]] = DayTotals(**{name: row[name] for name in DAY_FIELDS})
        return totals

    def day(self, day: date) -> DayTotals:
        return self.days.get(day, DayTotals())

    def in_period(self) -> list[DayTotals]:
        return [self.day(self.period.start + timedelta(days=offset)) for offset in range(self.period.days)]

    @cached_property
    def bounds(self) -> tuple[Any, Any]:
        return day_bounds(self.period.start)[0], day_bounds(self.period.end)[1]

    @cached_property
    def retention(self) -> dict[int, tuple[int, int]]:
        return retention_counts(self.period, self.scope)

    def _external(self, name: str) -> dict[str, Any] | None:
        selector = external("feedback.selectors", name)
        if selector is None:
            return None
        member_ids = self.scope.member_id_list()
        try:
            # A savepoint, so a failing selector of another app leaves this transaction usable.
            with transaction.atomic():
                # The other apps' selectors take the half-open range [start, end) as aware datetimes.
                start_at, end_at = self.bounds
                return selector(start=start_at, end=end_at, member_ids=member_ids)
        except Exception:  # another app's failure makes its KPIs unavailable, never the dashboard
            logger.exception("feedback.selectors.%s failed; its KPIs are shown as unavailable", name)
            return None

    @cached_property
    def feedback(self) -> dict[str, Any] | None:
        return self._external("feedback_kpis")

    @cached_property
    def surveys(self) -> dict[str, Any] | None:
        return self._external("survey_scores")

    @cached_property
    def points(self) -> tuple[int, int]:
        from rewards.selectors.analytics import points_issued, points_redeemed

        start_at, end_at = self.bounds
        member_ids = self.scope.member_ids() if self.scope.by_members else None
        options = {"start_at": start_at, "end_at": end_at, "member_ids": member_ids, "segment": self.scope.segment}
        return points_issued(**options), points_redeemed(**options)


def _days_for_members(scope: Scope, first: date, last: date) -> dict[date, DayTotals]:
    """Per-day totals for a set of members, from their member rows and member-day rollups (two queries)."""
    members = list(scope.member_queryset().values_list("pk", "joined_at", "left_at", "status"))
    ids = [row[0] for row in members]
    active = defaultdict(set)
    totals: dict[date, DayTotals] = {}
    for member_id, day, actions, verbs in MemberDay.objects.filter(
        member_id__in=ids, day__gte=first - timedelta(days=29), day__lte=last
    ).values_list("member_id", "day", "actions", "verbs"):
        active[day].add(member_id)
        if first <= day:
            row = totals.setdefault(day, DayTotals())
            row.dau += 1
            row.actions += actions
            row.check_ins += f",{CHECK_IN_VERB}," in verbs
    day = first
    while day <= last:
        row = totals.setdefault(day, DayTotals())
        start_at, end_at = day_bounds(day)
        for _pk, joined_at, left_at, status in members:
            if joined_at < end_at and (
                (left_at is None and status == Member.Status.ACTIVE) or (left_at is not None and left_at >= end_at)
            ):
                row.members += 1
            row.new_members += start_at <= joined_at < end_at
            row.left_members += left_at is not None and start_at <= left_at < end_at
        row.wau = len(set().union(*(active.get(day - timedelta(days=k), set()) for k in range(7))))
        row.mau = len(set().union(*(active.get(day - timedelta(days=k), set()) for k in range(30))))
        day += timedelta(days=1)
    return totals


def retention_counts(period: Period, scope: Scope) -> dict[int, tuple[int, int]]:
    """{N: (cohort size, retained)} for members who joined in the period, for N in 1, 7, 30 (two queries).

    Only members whose day N is over and rolled up count (joined on or before the last complete day - N).
    """
    from analytics.selectors.series import complete_through

    through = complete_through()
    if not scope.by_members:
        return _retention_from_day_segments(period, scope, through)
    members = scope.member_queryset()
    sizes: dict[str, Any] = {}
    retained_filters: dict[str, Any] = {}
    day_n = Q()
    for n in RETENTION_DAYS:
        last_join = min(period.end, through - timedelta(days=n)) if through else period.start - timedelta(days=1)
        start_at, end_at = day_bounds(period.start)[0], day_bounds(last_join)[1]
        sizes[f"d{n}"] = Count("pk", filter=Q(joined_at__gte=start_at, joined_at__lt=end_at))
        # A member-day's day is its join day + days_since_join, so "day N of members who joined in a range" is a
        # range of (days_since_join, day): one short scan of that index per N.
        after = timedelta(days=n)
        retained_filters[f"d{n}"] = Count(
            "day", filter=Q(days_since_join=n, day__gte=period.start + after, day__lte=last_join + after)
        )
        day_n |= Q(days_since_join=n, day__gte=period.start + after, day__lte=period.end + after)
    size_row = members.aggregate(**sizes)
    days = MemberDay.objects.filter(day_n)
    if scope.segment or scope.by_members:
        days = days.filter(member_id__in=members.values("pk"))
    retained_row = days.aggregate(**retained_filters)
    return {n: (size_row[f"d{n}"], retained_row[f"d{n}"]) for n in RETENTION_DAYS}


def _retention_from_day_segments(period: Period, scope: Scope, through: date | None) -> dict[int, tuple[int, int]]:
    """The same counts for everyone or a segment from the daily rollup (one query): the members who joined on each
    day, and the members active on each day who joined N days before."""
    rows = DaySegment.objects.filter(day__gte=period.start, day__lte=period.end + timedelta(days=max(RETENTION_DAYS)))
    if scope.segment:
        rows = rows.filter(segment=scope.segment)
    joined: dict[date, int] = defaultdict(int)
    returning_by_day: dict[tuple[date, int], int] = defaultdict(int)
    for day, new_members, counts in rows.values_list("day", "new_members", "retained"):
        joined[day] += new_members
        for n in RETENTION_DAYS:
            returning_by_day[(day, n)] += int((counts or {}).get(str(n), 0))
    result = {}
    for n in RETENTION_DAYS:
        last_join = min(period.end, through - timedelta(days=n)) if through else period.start - timedelta(days=1)
        size = retained = 0
        day = period.start
        while day <= last_join:
            size += joined.get(day, 0)
            retained += returning_by_day.get((day + timedelta(days=n), n), 0)
            day += timedelta(days=1)
        result[n] = (size, retained)
    return result


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _percent(numerator: float | None, denominator: float | None) -> float | None:
    value = _ratio(numerator, denominator)
    return None if value is None else round(100 * value, 2)


def defined_as(definition: str) -> Callable[[Callable], Callable]:
    """Give a KPI its definition, once: it becomes the function's docstring and, translated, what dashboards, CSV
    exports and the API show beside the value."""

    def decorate(function: Callable) -> Callable:
        function.__doc__ = definition
        return function

    return decorate


# --- the definitions ----------------------------------------------------------------------------------------


@defined_as(gettext_noop("Members in the program at the end of the period's last day."))
def members_total(ctx: KpiContext) -> float | None:
    return ctx.day(ctx.period.end).members


@defined_as(gettext_noop("Members who joined in the period (days in the program's time zone)."))
def members_new(ctx: KpiContext) -> float | None:
    return sum(row.new_members for row in ctx.in_period())


@defined_as(gettext_noop("Members who left or were removed in the period."))
def members_left(ctx: KpiContext) -> float | None:
    return sum(row.left_members for row in ctx.in_period())


@defined_as(gettext_noop("New members minus members who left, in the period."))
def net_growth(ctx: KpiContext) -> float | None:
    return members_new(ctx) - members_left(ctx)


@defined_as(gettext_noop("Net growth ÷ members in the program at the end of the day before the period, in percent."))
def growth_rate(ctx: KpiContext) -> float | None:
    return _percent(net_growth(ctx), ctx.day(ctx.period.start - timedelta(days=1)).members)


@defined_as(gettext_noop("Daily active members: members active on a day, averaged over the period's days."))
def dau(ctx: KpiContext) -> float | None:
    rows = ctx.in_period()
    return round(sum(row.dau for row in rows) / len(rows), 2)


@defined_as(
    gettext_noop("Weekly active members: distinct members active in the 7 days ending on the period's last day.")
)
def wau(ctx: KpiContext) -> float | None:
    return ctx.day(ctx.period.end).wau


@defined_as(
    gettext_noop("Monthly active members: distinct members active in the 30 days ending on the period's last day.")
)
def mau(ctx: KpiContext) -> float | None:
    return ctx.day(ctx.period.end).mau


@defined_as(
    gettext_noop(
        "DAU/MAU: the mean DAU over the 30 days ending on the period's last day ÷ MAU on that day, in percent."
    )
)
def stickiness(ctx: KpiContext) -> float | None:
    last = ctx.period.end
    mean_dau = sum(ctx.day(last - timedelta(days=k)).dau for k in range(30)) / 30
    return _percent(mean_dau, ctx.day(last).mau)


@defined_as(gettext_noop("Check-in member-days ÷ member-days in the program, over the period's days, in percent."))
def checkin_rate(ctx: KpiContext) -> float | None:
    rows = ctx.in_period()
    return _percent(sum(row.check_ins for row in rows), sum(row.members for row in rows))


@defined_as(gettext_noop("Activities recorded on the period's days."))
def actions(ctx: KpiContext) -> float | None:
    return sum(row.actions for row in ctx.in_period())


def _retention(n: int, definition: str) -> Callable[[KpiContext], float | None]:
    @defined_as(definition)
    def compute(ctx: KpiContext) -> float | None:
        size, retained = ctx.retention[n]
        return _percent(retained, size)

    compute.__name__ = compute.__qualname__ = f"d{n}_retention"
    return compute


# Written out for each N so each definition is one translatable sentence.
d1_retention = _retention(
    1,
    gettext_noop(
        "D1 retention: of the members who joined in the period (and whose next day is over), the share active on the "
        "local day after their join day, in percent."
    ),
)
d7_retention = _retention(
    7,
    gettext_noop(
        "D7 retention: of the members who joined in the period (and whose 7th day is over), the share active on the "
        "7th local day after their join day, in percent."
    ),
)
d30_retention = _retention(30, gettext_noop(
    "D30 retention: of the members who joined in the period (and whose 30th day is over), the share active on the "
    "30th local day after their join day, in percent."
))  # fmt: skip


@defined_as(gettext_noop("Points earned in the period (the sum of the earning entries of the points ledger)."))
def points_issued(ctx: KpiContext) -> float | None:
    return ctx.points[0]


@defined_as(gettext_noop("Points paid for rewards redeemed in the period and not cancelled."))
def points_redeemed(ctx: KpiContext) -> float | None:
    return ctx.points[1]


@defined_as(gettext_noop("Points redeemed ÷ points issued in the period, in percent."))
def redemption_rate(ctx: KpiContext) -> float | None:
    return _percent(ctx.points[1], ctx.points[0])


def _from(source: str, key: str, *, scale: float = 1.0) -> Callable[[KpiContext], float | None]:
    def compute(ctx: KpiContext) -> float | None:
        data = getattr(ctx, source)
        if data is None or data.get(key) is None:
            return None
        return round(float(data[key]) * scale, 2)

    return compute


@defined_as(gettext_noop("Feedback items submitted in the period."))
def feedback_volume(ctx: KpiContext) -> float | None:
    return _from("feedback", "volume")(ctx)


@defined_as(
    gettext_noop(
        "Median time from submission to the first operator response, in hours, of the feedback first answered in "
        "the period."
    )
)
def first_response_hours(ctx: KpiContext) -> float | None:
    return _from("feedback", "first_response_median_seconds", scale=1 / 3600)(ctx)


@defined_as(
    gettext_noop("Median time from submission to resolution, in hours, of the feedback resolved in the period.")
)
def resolution_hours(ctx: KpiContext) -> float | None:
    return _from("feedback", "resolution_median_seconds", scale=1 / 3600)(ctx)


@defined_as(
    gettext_noop("Of the feedback decided (accepted or declined) in the period, the share accepted, in percent.")
)
def acceptance_rate(ctx: KpiContext) -> float | None:
    return _from("feedback", "acceptance_rate", scale=100)(ctx)


@defined_as(
    gettext_noop(
        "Net promoter score of the survey answers in the period: the share of promoters (9-10) minus the share "
        "of detractors (0-6), from -100 to 100."
    )
)
def nps(ctx: KpiContext) -> float | None:
    return _from("surveys", "nps")(ctx)


@defined_as(gettext_noop("CSAT: share of CSAT survey answers in the period that are 4 or 5 (of 5), in percent."))
def csat(ctx: KpiContext) -> float | None:
    return _from("surveys", "csat")(ctx)


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str | Promise
    unit: str
    compute: Callable[[KpiContext], float | None]
    higher_is_better: bool = True
    headline: bool = False
    definition: str = field(default="")


def _kpi(key: str, label: str | Promise, unit: str, compute: Callable, **options: Any) -> Kpi:
    return Kpi(key, label, unit, compute, definition=compute.__doc__ or "", **options)


KPIS: dict[str, Kpi] = {
    kpi.key: kpi
    for kpi in (
        _kpi("members_total", _("Members"), COUNT, members_total, headline=True),
        _kpi("members_new", _("New members"), COUNT, members_new, headline=True),
        _kpi("members_left", _("Members who left"), COUNT, members_left, higher_is_better=False),
        _kpi("net_growth", _("Net growth"), COUNT, net_growth),
        _kpi("growth_rate", _("Growth rate"), PERCENT, growth_rate),
        _kpi("dau", _("Daily active members (average)"), COUNT, dau, headline=True),
        _kpi("wau", _("Weekly active members"), COUNT, wau),
        _kpi("mau", _("Monthly active members"), COUNT, mau, headline=True),
        _kpi("stickiness", _("Stickiness (DAU/MAU)"), PERCENT, stickiness, headline=True),
        _kpi("checkin_rate", _("Check-in rate"), PERCENT, checkin_rate),
        _kpi("actions", _("Actions"), COUNT, actions),
        _kpi("d1_retention", _("D1 retention"), PERCENT, d1_retention),
        _kpi("d7_retention", _("D7 retention"), PERCENT, d7_retention, headline=True),
        _kpi("d30_retention", _("D30 retention"), PERCENT, d30_retention, headline=True),
        _kpi("points_issued", _("Points issued"), COUNT, points_issued),
        _kpi("points_redeemed", _("Points redeemed"), COUNT, points_redeemed),
        _kpi("redemption_rate", _("Redemption rate"), PERCENT, redemption_rate),
        _kpi("feedback_volume", _("Feedback received"), COUNT, feedback_volume, headline=True),
        _kpi("first_response_hours", _("Median first response (hours)"), HOURS, first_response_hours,
             higher_is_better=False, headline=True),
        _kpi("resolution_hours", _("Median resolution (hours)"), HOURS, resolution_hours, higher_is_better=False),
        _kpi("acceptance_rate", _("Feedback acceptance rate"), PERCENT, acceptance_rate),
        _kpi("nps", _("NPS"), SCORE, nps, headline=True),
        _kpi("csat", _("CSAT"), PERCENT, csat),
    )
}  # fmt: skip
HEADLINE_KPIS = [key for key, kpi in KPIS.items() if kpi.headline]


@dataclass(frozen=True)
class KpiValue:
    key: str
    label: str
    unit: str
    value: float | None
    previous: float | None
    definition: str
    higher_is_better: bool

    @property
    def available(self) -> bool:
        return self.value is not None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return round(self.value - self.previous, 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "value": self.value,
            "previous": self.previous,
            "change": self.change,
            "definition": self.definition,
        }


def kpi_value(key: str, *, period: Period, scope: Scope | None = None) -> float | None:
    """One KPI's value over a period and scope (see each KPI's definition above)."""
    return KPIS[key].compute(KpiContext(period, scope))


@rollup_cached
def kpis_compute(
    *, period: Period, scope: Scope | None = None, keys: list[str] | None = None, compare: bool = True
) -> list[KpiValue]:
    """KPIs over a period and scope, each with its value over the previous period of the same length."""
    keys = list(KPIS) if keys is None else keys
    current = KpiContext(period, scope)
    previous = KpiContext(period.previous(), scope) if compare else None
    values = []
    for key in keys:
        kpi = KPIS[key]
        values.append(
            KpiValue(
                key=key,
                label=str(kpi.label),
                unit=kpi.unit,
                value=_safe(kpi.compute, current),
                previous=_safe(kpi.compute, previous) if previous is not None else None,
                definition=gettext(kpi.definition) if kpi.definition else "",
                higher_is_better=kpi.higher_is_better,
            )
        )
    return values


def _safe(compute: Callable[[KpiContext], float | None], ctx: KpiContext) -> float | None:
    value = compute(ctx)
    return None if value is None else float(value)


@rollup_cached
def participation(*, period: Period, scope: Scope | None = None) -> list[dict[str, Any]]:
    """Participation rate per activity kind: distinct members who did the verb at least once on the period's days
    ÷ members in the program at the end of the period, in percent (one row per verb seen, most members first)."""
    scope = scope or Scope()
    verbs_seen = DayVerb.objects.filter(day__gte=period.start, day__lte=period.end)
    if scope.segment:
        verbs_seen = verbs_seen.filter(segment=scope.segment)
    verbs = sorted(set(verbs_seen.values_list("verb", flat=True)))
    ctx = KpiContext(period, scope)
    total = members_total(ctx)
    if not verbs:
        return []
    days = MemberDay.objects.filter(day__gte=period.start, day__lte=period.end)
    member_ids = scope.member_ids()
    if member_ids is not None:
        days = days.filter(member_id__in=member_ids)
    counts = days.aggregate(
        **{
            f"v{index}": Count("member_id", distinct=True, filter=Q(verbs__contains=f",{verb},"))
            for index, verb in enumerate(verbs)
        }
    )
    rows = [
        {"verb": verb, "members": counts[f"v{index}"], "rate": _percent(counts[f"v{index}"], total)}
        for index, verb in enumerate(verbs)
    ]
    return sorted(rows, key=lambda row: (-row["members"], row["verb"]))


@rollup_cached
def top_verbs(*, period: Period, limit: int = 5) -> list[dict[str, Any]]:
    """The most frequent actions on the period's days (from the per-day participation rollup)."""
    rows = (
        DayVerb.objects.filter(day__gte=period.start, day__lte=period.end)
        .values("verb")
        .annotate(count=Coalesce(Sum("actions"), 0))
        .order_by("-count", "verb")[:limit]
    )
    return [{"verb": row["verb"], "count": row["count"]} for row in rows]


__all__ = ["HEADLINE_KPIS", "KPIS", "Kpi", "KpiContext", "KpiValue", "kpi_value", "kpis_compute"]
