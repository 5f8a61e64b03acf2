"""Daily time series for the trend charts, from the per-day x segment rollup."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Max

from analytics.models import DaySegment
from analytics.selectors.cache import rollup_cached
from analytics.selectors.kpis import DAY_FIELDS, KpiContext
from analytics.selectors.scope import Period, Scope
from analytics.services.rollups import program_today

SERIES_FIELDS = DAY_FIELDS


@rollup_cached
def rollups_through() -> date | None:
    """The last day the rollups have been written for (None before the first run)."""
    return DaySegment.objects.aggregate(last=Max("day"))["last"]


@rollup_cached
def complete_through() -> date | None:
    """The last day that is over everywhere and rolled up: the rollups may already hold today (partial) and,
    for members far east of the program, tomorrow; retention only counts days that are complete."""
    through = rollups_through()
    if through is None:
        return None
    return min(through, program_today() - timedelta(days=1))


@rollup_cached
def daily_series(*, period: Period, scope: Scope | None = None) -> list[dict[str, Any]]:
    """One row per day of the period: members, new, left, DAU, WAU, MAU, actions, check-ins (one query)."""
    ctx = KpiContext(period, scope)
    rows = []
    for offset in range(period.days):
        day = period.start + timedelta(days=offset)
        totals = ctx.day(day)
        rows.append({"day": day, **{name: getattr(totals, name) for name in SERIES_FIELDS}})
    return rows
