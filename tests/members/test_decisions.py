"""Decisions: transitions, capacity and quotas refused with a clear message, waitlist promotion, decision messages
in the applicant's language with their name (templates editable), audit records, the member.accepted event."""

from __future__ import annotations

import pytest

from community.errors import ServiceError
from community.models import AuditLog, Notification
from members.models import Application, DecisionTemplate, RoundQuota
from members.services.decisions import (
    application_decide,
    applications_decide_bulk,
    interview_schedule,
    round_auto_accept,
    round_waitlist_promote,
)
from members.services.scoring import round_score
from tests.factories import MemberFactory
from tests.members.factories import ApplicationFactory, RoundFactory, UsageMetricFactory

pytestmark = pytest.mark.django_db

A = Application.Status


def test_accepting_welcomes_the_member_by_name_in_their_language_and_is_audited(
    operator, events, django_capture_on_commit_callbacks
):
    member = MemberFactory(display_name="李雷", locale="zh-hans")
    application = ApplicationFactory(member=member)

    with django_capture_on_commit_callbacks(execute=True):
        application_decide(application=application, status=A.ACCEPTED, actor=operator.user)

    application.refresh_from_db()
    assert application.status == A.ACCEPTED
    assert application.stage == Application.Stage.ACCEPTED
    assert application.decided_by == operator.user
    notification = Notification.objects.get(member=member, kind="application_decision")
    assert "李雷" in notification.title
    assert "欢迎" in notification.title + notification.body
    assert AuditLog.objects.filter(action="application.accepted", actor=operator.user).exists()
    assert (
        "member.accepted",
        {
            "member_id": member.pk,
            "application_id": application.pk,
            "round_id": application.round_id,
            "at": events[0][1]["at"],
        },
    ) in events


def test_rejection_needs_a_reason_and_the_message_names_its_category(operator):
    member = MemberFactory(display_name="Ann", locale="en")
    application = ApplicationFactory(member=member)

    with pytest.raises(ServiceError) as refused:
        application_decide(application=application, status=A.REJECTED, actor=operator.user)
    assert refused.value.field == "reason"

    application_decide(application=application, status=A.REJECTED, reason="capacity", actor=operator.user)

    notification = Notification.objects.get(member=member, kind="application_decision")
    assert "Ann" in notification.body
    assert "The round is full" in notification.body


def test_operators_edit_the_decision_templates(operator):
    DecisionTemplate.objects.create(
        kind="accepted", language="en", subject="You're in, {{ name }}", body="Welcome to {{ round }}, {{ name }}."
    )
    member = MemberFactory(display_name="Bo", locale="en")
    application = ApplicationFactory(member=member, round=RoundFactory(name="Spring seed"))

    application_decide(application=application, status=A.ACCEPTED, actor=operator.user)

    notification = Notification.objects.get(member=member, kind="application_decision")
    assert notification.title == "You're in, Bo"
    assert notification.body == "Welcome to Spring seed, Bo."


def test_accepting_past_capacity_is_refused_with_a_clear_message(operator):
    round = RoundFactory(capacity=1)
    first, second = ApplicationFactory(round=round), ApplicationFactory(round=round)
    application_decide(application=first, status=A.ACCEPTED, actor=operator.user)

    with pytest.raises(ServiceError) as refused:
        application_decide(application=second, status=A.ACCEPTED, actor=operator.user)

    assert refused.value.code == "capacity"
    assert "full" in refused.value.message
    second.refresh_from_db()
    assert second.status == A.SUBMITTED


def test_a_segment_quota_is_enforced(operator):
    round = RoundFactory(capacity=5)
    RoundQuota.objects.create(round=round, segment="students", places=1)
    one, two = (ApplicationFactory(round=round, segment="students") for _ in range(2))
    other = ApplicationFactory(round=round, segment="developers")
    application_decide(application=one, status=A.ACCEPTED, actor=operator.user)

    with pytest.raises(ServiceError) as refused:
        application_decide(application=two, status=A.ACCEPTED, actor=operator.user)
    application_decide(application=other, status=A.ACCEPTED, actor=operator.user)

    assert refused.value.code == "quota"


def test_a_freed_place_goes_to_the_best_scoring_waitlisted_applicant(operator):
    round = RoundFactory(capacity=1)
    accepted = ApplicationFactory(round=round)
    weaker, stronger = ApplicationFactory(round=round), ApplicationFactory(round=round)
    UsageMetricFactory(application=weaker, active_days_30=2)
    UsageMetricFactory(application=stronger, active_days_30=29)
    round_score(round_id=round.pk)
    application_decide(application=accepted, status=A.ACCEPTED, actor=operator.user)
    for application in (weaker, stronger):
        application_decide(application=application, status=A.WAITLISTED, actor=operator.user)

    application_decide(application=accepted, status=A.WITHDRAWN, actor=accepted.member.user)

    stronger.refresh_from_db()
    weaker.refresh_from_db()
    assert stronger.status == A.ACCEPTED
    assert weaker.status == A.WAITLISTED
    assert Notification.objects.filter(member=stronger.member, kind="application_decision").count() == 2


def test_raising_capacity_then_promoting_fills_the_new_places(operator):
    round = RoundFactory(capacity=0)
    waiting = [ApplicationFactory(round=round, status=A.WAITLISTED) for _ in range(3)]
    round.capacity = 2
    round.save()

    promoted = round_waitlist_promote(round=round, actor=operator.user)

    assert len(promoted) == 2
    assert Application.objects.filter(pk__in=[a.pk for a in waiting], status=A.ACCEPTED).count() == 2


def test_impossible_transitions_are_refused(operator):
    application = ApplicationFactory(status=A.REJECTED)

    with pytest.raises(ServiceError) as refused:
        application_decide(application=application, status=A.ACCEPTED, actor=operator.user)

    assert refused.value.code == "transition"


def test_bulk_accept_takes_the_best_scores_up_to_capacity(operator):
    round = RoundFactory(capacity=2)
    applications = [ApplicationFactory(round=round) for _ in range(4)]
    for number, application in enumerate(applications):
        UsageMetricFactory(application=application, active_days_30=number * 5)
    round_score(round_id=round.pk)

    done, refusals = applications_decide_bulk(
        application_ids=[a.pk for a in applications], status=A.ACCEPTED, actor=operator.user
    )

    assert done == 2 and len(refusals) == 2
    accepted = set(Application.objects.filter(status=A.ACCEPTED).values_list("pk", flat=True))
    assert accepted == {applications[2].pk, applications[3].pk}


def test_auto_accept_takes_applications_over_the_threshold_while_places_remain():
    round = RoundFactory(capacity=1, auto_accept_threshold=10)
    strong, also_strong, weak = (ApplicationFactory(round=round) for _ in range(3))
    UsageMetricFactory(application=strong, active_days_30=30)
    UsageMetricFactory(application=also_strong, active_days_30=29)
    UsageMetricFactory(application=weak, active_days_30=0)
    round_score(round_id=round.pk)

    assert round_auto_accept(round_id=round.pk) == 1

    assert list(Application.objects.filter(status=A.ACCEPTED)) == [strong]


def test_scheduling_an_interview_moves_the_application_and_tells_the_applicant(operator):
    from datetime import timedelta

    from django.utils import timezone

    application = ApplicationFactory()

    interview_schedule(
        application=application,
        scheduled_at=timezone.now() + timedelta(days=2),
        location="https://meet.example.com/x",
        interviewer=operator.user,
        actor=operator.user,
    )

    application.refresh_from_db()
    assert application.status == A.INTERVIEW
    assert application.stage == Application.Stage.INTERVIEWED
    assert application.interviews.count() == 1
    assert Notification.objects.filter(member=application.member, kind="application_interview").exists()
