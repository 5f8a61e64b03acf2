"""Scheduled badge evaluation: every automatic badge for every member, once a day."""

from __future__ import annotations

from celery import shared_task

from rewards.services import badges


@shared_task(acks_late=True)
def badges_evaluate_all() -> int:
    """Award every badge whose criteria members now meet (idempotent). Returns how many were awarded."""
    return badges.badges_evaluate_all()
