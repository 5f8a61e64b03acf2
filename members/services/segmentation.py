"""Segmentation: novice / active / loyal from activity-stream counts over a window, thresholds editable by
operators (`SegmentationSettings`). Recomputed by a scheduled Celery job; one read and a few bulk updates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from community.services import audit_record
from members import selectors
from members.models import Member, SegmentationSettings

CHUNK = 5000


def segmentation_settings() -> SegmentationSettings:
    settings, _created = SegmentationSettings.objects.get_or_create(pk=1)
    return settings


def segment_for(count: int, settings: SegmentationSettings) -> str:
    if count >= settings.loyal_min:
        return Member.Segment.LOYAL
    if count >= settings.active_min:
        return Member.Segment.ACTIVE
    return Member.Segment.NOVICE


def members_segment_recompute(*, now: datetime | None = None, actor: Any | None = None) -> dict[str, int]:
    """Reclassify every member; only members whose segment changes are written. Returns changes per segment."""
    now = now or timezone.now()
    settings = segmentation_settings()
    counts = selectors.activity_counts(start=now - timedelta(days=settings.window_days), end=now)
    moves: dict[str, list[int]] = {value: [] for value in Member.Segment.values}
    for pk, segment in Member.objects.values_list("pk", "segment").iterator(chunk_size=CHUNK):
        target = segment_for(counts.get(pk, 0), settings)
        if target != segment:
            moves[target].append(pk)
    with transaction.atomic():
        for segment, ids in moves.items():
            for start in range(0, len(ids), CHUNK):
                Member.objects.filter(pk__in=ids[start : start + CHUNK]).update(segment=segment, segment_changed_at=now)
        changed = {segment: len(ids) for segment, ids in moves.items()}
        audit_record(
            actor=actor,
            action="members.segments_recompute",
            after={"changed": changed, "window_days": settings.window_days},
        )
    return changed
