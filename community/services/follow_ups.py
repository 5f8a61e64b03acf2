"""Operators' follow-up tasks: what the scheduled jobs (members going quiet, unanswered questions …) file for a
person to act on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction

from community.models import FollowUpTask
from community.services.audit import audit_record, model_snapshot
from members.models import Member


def follow_up_task_file(
    *,
    kind: str,
    title: str,
    member: Member | None = None,
    target: models.Model | None = None,
    detail: str = "",
    url: str = "",
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
    actor: Any | None = None,
) -> tuple[FollowUpTask, bool]:
    """File an operator follow-up task; with a `dedupe_key` a second call returns the first task (created=False).

    Jobs pass a key such as "member_quiet:<member id>:<date>" so a run repeated for the same day files nothing new.
    """
    if dedupe_key is not None:
        existing = FollowUpTask.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing, False
    task = FollowUpTask(
        kind=kind,
        title=title[:200],
        detail=detail,
        member=member,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        url=url,
        due_at=due_at,
        dedupe_key=dedupe_key,
    )
    try:
        with transaction.atomic():
            task.save()
    except IntegrityError:
        existing = FollowUpTask.objects.filter(dedupe_key=dedupe_key).first() if dedupe_key else None
        if existing is None:
            raise
        return existing, False
    audit_record(actor=actor, action="follow_up_task.file", obj=task, after=model_snapshot(task))
    return task, True
