"""Badge jobs: every automatic badge for every member once a day, and the messages of bulk awards."""

from __future__ import annotations

from celery import shared_task

from rewards.services import badges


@shared_task(acks_late=True)
def badges_evaluate_all() -> int:
    """Award every badge whose criteria members now meet (idempotent). Returns how many were awarded."""
    return badges.badges_evaluate_all()


@shared_task(acks_late=True)
def badges_notify_awarded_task(award_ids: list[int]) -> int:
    """The messages of badges awarded in bulk (idempotent: an award already told is skipped)."""
    return badges.badges_notify_awarded(award_ids=award_ids)
