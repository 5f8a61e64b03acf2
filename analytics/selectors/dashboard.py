"""What the operator dashboards show, gathered in a constant number of queries (all from rollups)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from analytics.models import KpiTarget
from analytics.selectors.kpis import HEADLINE_KPIS, KPIS, KpiValue, kpis_compute
from analytics.selectors.scope import Period, Scope
from analytics.selectors.series import rollups_through
from analytics.services.rollups import program_today

DEFAULT_DAYS = 30


def default_period(*, days: int = DEFAULT_DAYS, through: date | None = None) -> Period:
    """The last `days` days up to the last rolled-up day (never past today)."""
    today = program_today()
    last = min(through, today) if through else today
    return Period(last - timedelta(days=days - 1), last)


def targets_by_kpi() -> dict[str, KpiTarget]:
    return {target.kpi: target for target in KpiTarget.objects.filter(is_active=True)}


def with_targets(values: list[KpiValue], targets: dict[str, KpiTarget]) -> list[dict[str, Any]]:
    """Each KPI value with its target (if any) and whether it is met (None: no target or no value)."""
    rows = []
    for value in values:
        target = targets.get(value.key)
        rows.append({"kpi": value, "target": target, "met": target.is_met(value.value) if target else None})
    return rows


def headline(*, period: Period, scope: Scope | None = None) -> list[dict[str, Any]]:
    return with_targets(kpis_compute(period=period, scope=scope, keys=HEADLINE_KPIS), targets_by_kpi())


BREAKDOWN_KPIS = ["members_total", "members_new", "dau", "mau", "stickiness", "checkin_rate", "d7_retention"]


def segment_breakdown(*, period: Period, keys: list[str] | None = None) -> list[dict[str, Any]]:
    """The chosen KPIs for each segment side by side (each segment one scope; cached like every KPI read)."""
    from members.models import Member

    keys = keys or BREAKDOWN_KPIS
    rows = []
    for segment, label in Member.Segment.choices:
        values = kpis_compute(period=period, scope=Scope(segment=segment), keys=keys, compare=False)
        rows.append({"segment": segment, "label": str(label), "values": values})
    return rows


def kpi_choices() -> list[tuple[str, str]]:
    return [(key, str(kpi.label)) for key, kpi in KPIS.items()]


__all__ = [
    "default_period", "headline", "kpi_choices", "rollups_through", "segment_breakdown", "targets_by_kpi",
    "with_targets",
]  # fmt: skip
