"""Scheduled jobs for points: the daily level review, and forgetting old Idempotency-Key responses."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from rewards.models import IdempotencyRecord
from rewards.services import levels

# How long an integration may retry a request and get the first response back.
IDEMPOTENCY_RETENTION = timedelta(days=30)


@shared_task(acks_late=True)
def levels_review_daily() -> dict[str, int]:
    """Idempotent: a member is moved down only once their grace period has passed and they still fall short."""
    review = levels.levels_review()
    return {"marked_below": review.marked_below, "demoted": review.demoted, "kept": review.kept}


@shared_task(acks_late=True)
def levels_notify_promoted_task(promotions: list[list[int]]) -> int:
    """Level-up messages after a bulk promotion: [member id, level id] pairs. Idempotent (see the service)."""
    return levels.levels_notify_promoted(promotions=[(member_id, level_id) for member_id, level_id in promotions])


@shared_task(acks_late=True)
def idempotency_records_prune() -> int:
    """Forget stored responses older than the retention period (the ledger's own keys still stop doubles)."""
    cutoff = timezone.now() - IDEMPOTENCY_RETENTION
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
