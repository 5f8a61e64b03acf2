"""The SLA job, and the KPIs analytics reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from community.models import FollowUpTask, Notification
from feedback import selectors, services
from feedback.models import FeedbackItem
from feedback.tasks import feedback_sla_check
from tests.feedback.factories import status

pytestmark = pytest.mark.django_db


def _age(item, hours):
    FeedbackItem.objects.filter(pk=item.pk).update(created_at=timezone.now() - timedelta(hours=hours))


def test_overdue_feedback_and_unanswered_questions_become_tasks_once(member, operator, submit):
    bug = submit(member, kind="bug", title="Crash on start")
    question = submit(member, kind="question", title="How do I export?")
    fresh = submit(member, kind="bug", title="Fresh bug")
    answered = submit(member, kind="question", title="Answered one")
    idea = submit(member, kind="idea", title="Dark mode")
    for item in (bug, question, answered):
        _age(item, 30)
    _age(idea, 30)  # ideas have 72 hours
    services.reply_post(item=answered, author=operator, body="Here is how.")

    result = feedback_sla_check()

    tasks = FollowUpTask.objects.order_by("kind")
    assert [(task.kind, task.target_id) for task in tasks] == [
        ("feedback_overdue", str(bug.pk)),
        ("question_unanswered", str(question.pk)),
    ]
    assert result == {"filed": 2, "operators_notified": 1}
    assert Notification.objects.filter(member=operator, kind="feedback_sla_alert").count() == 1
    assert fresh.pk not in [int(task.target_id) for task in tasks]

    assert feedback_sla_check() == {"filed": 0, "operators_notified": 0}
    assert FollowUpTask.objects.count() == 2


def test_past_the_resolution_target(member, operator, submit):
    bug = submit(member, kind="bug")
    services.item_status_change(item=bug, actor=operator.user, status=status("acknowledged"))
    _age(bug, 24 * 15)

    feedback_sla_check()

    assert FollowUpTask.objects.get(dedupe_key=f"feedback_overdue_resolution:{bug.pk}")


def test_kpis(member, other_member, operator, submit):
    start = timezone.now() - timedelta(minutes=1)
    accepted, declined, open_one = submit(member), submit(member), submit(other_member)
    services.item_status_change(item=accepted, actor=operator.user, status=status("done"))
    services.item_status_change(item=declined, actor=operator.user, status=status("declined"))
    services.reply_post(item=open_one, author=operator, body="Looking.")
    end = timezone.now() + timedelta(minutes=1)

    kpis = selectors.feedback_kpis(start=start, end=end)

    assert kpis["volume"] == 3
    assert kpis["acceptance_rate"] == 0.5
    assert kpis["first_response_median_seconds"] is not None and kpis["first_response_median_seconds"] >= 0
    assert kpis["resolution_median_seconds"] is not None
    mine = selectors.feedback_kpis(start=start, end=end, member_ids=[other_member.pk])
    assert (mine["volume"], mine["acceptance_rate"], mine["resolution_median_seconds"]) == (1, None, None)
    empty = selectors.feedback_kpis(start=end, end=end + timedelta(hours=1))
    assert empty == {
        "volume": 0,
        "first_response_median_seconds": None,
        "resolution_median_seconds": None,
        "acceptance_rate": None,
    }
