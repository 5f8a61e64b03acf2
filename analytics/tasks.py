"""Scheduled analytics jobs: each only works out its dates and calls a service; all are safe to run twice."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task

from analytics.services import reports, rollups, targets


@shared_task
def rollups_refresh_recent() -> dict:
    """Every 15 minutes: rewrite the last few local days (today is partial until the day ends)."""
    return rollups.rollups_refresh_recent()


@shared_task
def rollups_nightly(start: str | None = None, end: str | None = None) -> dict:
    """Nightly: yesterday's rollups (and any range given as ISO dates), then the cohort tables."""
    yesterday = rollups.program_today() - timedelta(days=1)
    first = date.fromisoformat(start) if start else yesterday - timedelta(days=1)
    last = date.fromisoformat(end) if end else yesterday + timedelta(days=1)
    return rollups.rollups_rebuild(start=first, end=last)


@shared_task
def rollups_rebuild_everything(actor_id: int | None = None) -> dict:
    """An operator asked for a full rebuild (the dashboard's button): every day, then the cohort tables."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return rollups.rollups_rebuild_all(actor=actor)


@shared_task
def kpi_targets_check_daily() -> int:
    """Daily, after the nightly rollup: check each target over its window ending yesterday."""
    yesterday = rollups.program_today() - timedelta(days=1)
    return len(targets.kpi_targets_check(day=yesterday))


@shared_task
def weekly_report_send() -> int:
    """Mondays: the report on the seven days ending yesterday (Sunday)."""
    return reports.weekly_report_send(last_day=rollups.program_today() - timedelta(days=1))
