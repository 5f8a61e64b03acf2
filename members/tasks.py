"""Celery tasks of the members app: each takes primary keys, loads, calls a service, and is safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from members.models import Round
from members.services import decisions, scoring, segmentation


@shared_task(acks_late=True)
def round_score_task(round_id: int) -> int:
    """Rescore a round (after submissions, usage imports, rule changes), then apply its auto-accept threshold."""
    cache.delete(f"members:score-pending:{round_id}")
    if not Round.objects.filter(pk=round_id).exists():
        return 0
    scored = scoring.round_score(round_id=round_id)
    decisions.round_auto_accept(round_id=round_id)
    return scored


@shared_task(acks_late=True)
def members_segment_recompute_task() -> dict[str, int]:
    """Daily: reclassify members as novice / active / loyal from their recent activity."""
    return segmentation.members_segment_recompute()
