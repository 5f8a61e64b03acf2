"""The SLA sweep: feedback past its first-response or resolution target and questions nobody answered become
operator follow-up tasks (once each, by key), and operators are told what was filed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from community import roles
from community.services import follow_up_task_file, notify
from feedback.models import FeedbackItem, Kind, SlaTarget
from members.models import Member

# A question with no target of its own is flagged after this long without an answer.
QUESTION_DEFAULT_HOURS = 24
# Task titles are for operators' inbox; the notification operators get is translated.
TASK_TITLES = {
    "question_unanswered": "Unanswered question",
    "feedback_overdue": "Feedback past its first-response target",
}


@dataclass(frozen=True)
class SlaRun:
    filed: int
    operators_notified: int


def _open_items():
    return FeedbackItem.objects.filter(merged_into__isnull=True, status__is_closed=False).select_related("author")


def operators_to_alert() -> list[Member]:
    return list(
        Member.objects.filter(
            Q(user__groups__name=roles.OPERATOR) | Q(user__is_superuser=True),
            user__is_active=True,
            user__is_staff=True,
        )
        .select_related("user")
        .distinct()
    )


def sla_check_run(*, now: datetime | None = None) -> SlaRun:
    """File follow-up tasks for overdue feedback. Running it twice files nothing new."""
    now = now or timezone.now()
    targets = {target.kind: target for target in SlaTarget.objects.all()}
    filed = 0
    for kind in Kind.values:
        target = targets.get(kind)
        hours = target.first_response_hours if target else (QUESTION_DEFAULT_HOURS if kind == Kind.QUESTION else None)
        if hours is not None:
            overdue = _open_items().filter(
                kind=kind, first_response_at__isnull=True, created_at__lte=now - timedelta(hours=hours)
            )
            task_kind = "question_unanswered" if kind == Kind.QUESTION else "feedback_overdue"
            for item in overdue.order_by("created_at")[:1000]:
                _task, created = follow_up_task_file(
                    kind=task_kind,
                    title=f"{TASK_TITLES[task_kind]} #{item.pk}: {item.title}",
                    member=item.author,
                    target=item,
                    url=reverse("admin:feedback_feedbackitem_change", args=[item.pk]),
                    due_at=item.created_at + timedelta(hours=hours),
                    dedupe_key=f"{task_kind}:{item.pk}",
                )
                filed += created
        if target and target.resolution_hours:
            late = _open_items().filter(
                kind=kind, resolved_at__isnull=True, created_at__lte=now - timedelta(hours=target.resolution_hours)
            )
            for item in late.order_by("created_at")[:1000]:
                _task, created = follow_up_task_file(
                    kind="feedback_overdue",
                    title=f"Feedback past its resolution target #{item.pk}: {item.title}",
                    member=item.author,
                    target=item,
                    url=reverse("admin:feedback_feedbackitem_change", args=[item.pk]),
                    due_at=item.created_at + timedelta(hours=target.resolution_hours),
                    dedupe_key=f"feedback_overdue_resolution:{item.pk}",
                )
                filed += created
    notified = 0
    if filed:
        for operator in operators_to_alert():
            if notify(
                member=operator,
                kind="feedback_sla_alert",
                context={"count": filed},
                url=reverse("admin:feedback_feedbackitem_changelist") + "?sla=overdue",
            ):
                notified += 1
    return SlaRun(filed=filed, operators_notified=notified)
