"""Formatting of KPI values for dashboards and reports."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext as _

register = template.Library()


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return _("unavailable")
    if unit == "percent":
        return f"{number_format(value, 1)} %"
    if unit == "hours":
        return f"{number_format(value, 1)} h"
    if float(value).is_integer():
        return number_format(int(value), use_l10n=True, force_grouping=True)
    return number_format(value, 2)


@register.filter
def kpi_display(kpi: Any, which: str = "value") -> str:
    return _format(getattr(kpi, which), kpi.unit)


@register.filter
def kpi_change(kpi: Any) -> str:
    change = kpi.change
    if change is None:
        return "-"
    sign = "+" if change > 0 else ""
    return f"{sign}{_format(change, kpi.unit)}"


@register.filter
def kpi_trend(kpi: Any) -> str:
    """'up', 'down' or 'flat', for the arrow and its colour (good or bad depends on the KPI)."""
    change = kpi.change
    if not change:
        return "flat"
    return "up" if change > 0 else "down"


@register.filter
def kpi_change_good(kpi: Any) -> bool | None:
    change = kpi.change
    if not change:
        return None
    return (change > 0) == kpi.higher_is_better


@register.filter
def heat_class(percent: float | None) -> str:
    if percent is None:
        return "heat-na"
    return f"heat-{min(10, int(percent // 10))}"


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None
