"""Leaving the program (exit survey, follow-up task, member.left), removal by operators, segmentation by
activity counts with editable thresholds (and its Celery task), and the selectors other apps rely on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from community.models import AuditLog, FollowUpTask
from members import selectors
from members.models import Application, ExitSurvey, Member, SegmentationSettings
from members.services.decisions import application_decide
from members.services.leaving import member_leave
from members.tasks import members_segment_recompute_task
from tests.factories import ActivityFactory, MemberFactory
from tests.members.factories import ApplicationFactory, RoundFactory

pytestmark = pytest.mark.django_db


def test_a_member_leaves_from_the_portal_with_a_reason(web_member, member, events, django_capture_on_commit_callbacks):
    open_application = ApplicationFactory(member=member)
    url = reverse("members:leave")
    assert web_member.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = web_member.post(
            url, {"reason": "no_time", "detail": "New job.", "would_return": "on", "confirm": "on"}
        )

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == Member.Status.LEFT and member.left_at is not None
    survey = ExitSurvey.objects.get(member=member)
    assert (survey.reason, survey.detail, survey.would_return) == ("no_time", "New job.", True)
    task = FollowUpTask.objects.get(kind="member_left", member=member)
    assert member.display_name in task.title and "New job." in task.detail
    open_application.refresh_from_db()
    assert open_application.status == Application.Status.WITHDRAWN
    assert next(e for e in events if e[0] == "member.left")[1]["member_id"] == member.pk
    assert AuditLog.objects.filter(action="member.leave", actor=member.user).exists()
    assert "You have left the program" in web_member.get(url).content.decode()


def test_leaving_needs_a_reason_and_confirmation(web_member, member):
    response = web_member.post(reverse("members:leave"), {"detail": "x"})

    assert response.status_code == 400
    assert {"reason", "confirm"} <= set(response.context["form"].errors)
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_leaving_twice_files_one_task(member):
    from community.errors import ServiceError

    member_leave(member=member, reason="other", actor=member.user)
    with pytest.raises(ServiceError):
        member_leave(member=member, reason="other", actor=member.user)

    assert FollowUpTask.objects.filter(kind="member_left").count() == 1


def test_an_operator_removes_a_member_with_a_reason_from_the_admin(web_operator, member):
    url = reverse("admin:members_member_changelist")

    web_operator.post(url, {"action": "remove_from_program", "_selected_action": [member.pk], "reason": ""})
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE  # no reason, no removal

    web_operator.post(url, {"action": "remove_from_program", "_selected_action": [member.pk], "reason": "Spam"})
    member.refresh_from_db()
    assert member.status == Member.Status.REMOVED
    assert AuditLog.objects.get(action="member.remove").after["reason"] == "Spam"


def test_segments_follow_activity_counts_over_the_window():
    settings = SegmentationSettings.objects.create(pk=1, window_days=30, active_min=3, loyal_min=6)
    novice, active, loyal, lapsed = (MemberFactory() for _ in range(4))
    now = timezone.now()
    for member, count in ((active, 3), (loyal, 6)):
        for hours in range(count):
            ActivityFactory(member=member, occurred_at=now - timedelta(hours=hours + 1))
    for hours in range(10):
        ActivityFactory(member=lapsed, occurred_at=now - timedelta(days=40, hours=hours))
    Member.objects.filter(pk=lapsed.pk).update(segment=Member.Segment.LOYAL)

    changed = members_segment_recompute_task()

    segments = dict(Member.objects.values_list("pk", "segment"))
    assert segments[novice.pk] == "novice"
    assert segments[active.pk] == "active"
    assert segments[loyal.pk] == "loyal"
    assert segments[lapsed.pk] == "novice"
    assert changed == {"novice": 1, "active": 1, "loyal": 1}
    assert selectors.members_segment_counts() == {"novice": 2, "active": 1, "loyal": 1}

    settings.loyal_min = 4  # thresholds are editable: the next run follows them
    settings.save()
    members_segment_recompute_task()
    assert Member.objects.get(pk=active.pk).segment == "active"
    assert Member.objects.filter(segment="loyal").count() == 1


def test_the_segmentation_job_is_scheduled():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "members.tasks.members_segment_recompute_task" in tasks


def test_application_funnel_counts_applications_that_reached_each_stage(operator):
    round = RoundFactory(capacity=5)
    now = timezone.now()
    stages = ["submitted", "screening", "interview", "accepted", "rejected"]
    applications = [ApplicationFactory(round=round, submitted_at=now - timedelta(days=1)) for _ in stages]
    application_decide(application=applications[1], status="screening", actor=None)
    application_decide(application=applications[2], status="interview", actor=None)
    application_decide(application=applications[3], status="interview", actor=None)
    application_decide(application=applications[3], status="accepted", actor=None)
    application_decide(application=applications[4], status="screening", actor=None)
    application_decide(application=applications[4], status="rejected", reason="fit", actor=None)
    ApplicationFactory(round=round, submitted_at=now - timedelta(days=10))  # outside the window

    funnel = selectors.application_funnel(start=now - timedelta(days=2), end=now)

    assert funnel == {"applied": 5, "screened": 4, "interviewed": 2, "accepted": 1}
    assert selectors.application_funnel(start=now - timedelta(days=2), end=now, round_id=round.pk + 999) == {
        "applied": 0,
        "screened": 0,
        "interviewed": 0,
        "accepted": 0,
    }
    only = selectors.application_funnel(start=now - timedelta(days=2), end=now, member_ids=[applications[3].member_id])
    assert only == {"applied": 1, "screened": 1, "interviewed": 1, "accepted": 1}
    assert selectors.round_member_ids(round_id=round.pk) == [applications[3].member_id]
    assert (round.pk, round.name) in selectors.rounds_list()
