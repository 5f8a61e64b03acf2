"""Scheduled leaderboard jobs: the nightly rebuild from the ledger and freezing finished periods."""

from __future__ import annotations

from celery import shared_task

from rewards.services import leaderboards


@shared_task(acks_late=True)
def leaderboards_rebuild() -> int:
    """Recompute the live boards from the ledger (the source of truth). Returns how many boards were written."""
    return leaderboards.leaderboard_rebuild().boards


@shared_task(acks_late=True)
def leaderboards_freeze_finished() -> int:
    """Freeze every recently finished day, week and month not frozen yet (idempotent). Returns new snapshots."""
    return len(leaderboards.leaderboard_freeze_finished())
