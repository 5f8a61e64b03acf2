"""The operator inbox: work the follow-up tasks every job files (assign, snooze, done with an outcome)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community import roles
from community.errors import ServiceError
from community.models import FollowUpTask
from community.services import audit_record, model_snapshot

FIELDS = ("status", "assignee", "snoozed_until", "outcome", "completed_at")


def _locked(task: FollowUpTask) -> FollowUpTask:
    return FollowUpTask.objects.select_for_update().get(pk=task.pk)


def _save(task: FollowUpTask, before: dict[str, Any], actor: Any, action: str, fields: list[str]) -> FollowUpTask:
    task.save(update_fields=fields)
    audit_record(actor=actor, action=action, obj=task, before=before, after=model_snapshot(task, FIELDS))
    return task


def task_assign(*, task: FollowUpTask, assignee: Any | None, actor: Any) -> FollowUpTask:
    """Give the task to a staff member (or nobody)."""
    if assignee is not None and not (assignee.is_staff and (roles.is_operator(assignee) or assignee.is_superuser)):
        raise ServiceError(_("Tasks can only be assigned to operators."), field="assignee")
    with transaction.atomic():
        task = _locked(task)
        before = model_snapshot(task, FIELDS)
        task.assignee = assignee
        return _save(task, before, actor, "follow_up_task.assign", ["assignee"])


def task_snooze(*, task: FollowUpTask, until: datetime, actor: Any) -> FollowUpTask:
    """Put the task away until a later moment; it comes back to the inbox then."""
    if until <= timezone.now():
        raise ServiceError(_("Snooze until a moment in the future."), field="snoozed_until")
    with transaction.atomic():
        task = _locked(task)
        if task.status == FollowUpTask.Status.DONE:
            raise ServiceError(_("This task is done already."), field="status")
        before = model_snapshot(task, FIELDS)
        task.status = FollowUpTask.Status.SNOOZED
        task.snoozed_until = until
        return _save(task, before, actor, "follow_up_task.snooze", ["status", "snoozed_until"])


def task_complete(*, task: FollowUpTask, outcome: str, actor: Any) -> FollowUpTask:
    """Close the task, saying what came of it (reached the member, no answer, …)."""
    outcome = (outcome or "").strip()
    if not outcome:
        raise ServiceError(_("Say what came of it."), field="outcome")
    with transaction.atomic():
        task = _locked(task)
        if task.status == FollowUpTask.Status.DONE:
            return task
        before = model_snapshot(task, FIELDS)
        task.status = FollowUpTask.Status.DONE
        task.outcome = outcome[:5000]
        task.completed_at = timezone.now()
        task.snoozed_until = None
        if task.assignee_id is None and getattr(actor, "is_authenticated", False):
            task.assignee = actor
        return _save(
            task,
            before,
            actor,
            "follow_up_task.complete",
            ["status", "outcome", "completed_at", "snoozed_until", "assignee"],
        )


def task_reopen(*, task: FollowUpTask, actor: Any) -> FollowUpTask:
    with transaction.atomic():
        task = _locked(task)
        before = model_snapshot(task, FIELDS)
        task.status = FollowUpTask.Status.OPEN
        task.snoozed_until = None
        task.completed_at = None
        return _save(task, before, actor, "follow_up_task.reopen", ["status", "snoozed_until", "completed_at"])
