"""Retention jobs: quiet members (set-based, idempotent per day), leavers, unanswered questions, the digest."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from community.models import FollowUpTask, Notification
from engage import tasks
from engage.models import JobRun, RetentionSettings
from engage.services import retention
from members.models import Member
from tests.engage.factories import QuestionFactory
from tests.factories import ActivityFactory, MemberFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 30)


def active_on(member, *days_ago: int) -> None:
    for days in days_ago:
        day = TODAY - timedelta(days=days)
        ActivityFactory(
            member=member, occurred_at=timezone.make_aware(datetime(day.year, day.month, day.day, 12)), local_date=day
        )


@pytest.fixture
def population():
    quiet = MemberFactory(display_name="Quiet Q")
    active_on(quiet, 20, 25, 30, 40, 50)  # five days, silent for 20
    busy = MemberFactory()
    active_on(busy, 1, 20, 25, 30, 40)  # active yesterday
    light = MemberFactory()
    active_on(light, 20, 25, 30, 40)  # only four days
    left = MemberFactory(status=Member.Status.LEFT)
    active_on(left, 20, 25, 30, 40, 50)
    return {"quiet": quiet, "busy": busy, "light": light, "left": left}


def test_quiet_members_query_finds_only_the_quiet_one(population):
    found = retention.quiet_members(today=TODAY, window_days=90, min_active_days=5, silent_days=14)
    assert found == [(population["quiet"].pk, TODAY - timedelta(days=20))]


def test_quiet_job_files_a_task_and_nudges_once_even_when_run_twice(population):
    first = retention.job_run(job="quiet_members", day=TODAY, work=lambda: retention.quiet_members_process(today=TODAY))
    again = retention.job_run(job="quiet_members", day=TODAY, work=lambda: retention.quiet_members_process(today=TODAY))
    assert first.ran and not again.ran
    assert first.run.summary == {"quiet": 1, "new_tasks": 1}
    task = FollowUpTask.objects.get()
    assert task.kind == "member_quiet" and task.member == population["quiet"]
    assert task.dedupe_key == f"member_quiet:{population['quiet'].pk}:{(TODAY - timedelta(days=20)).isoformat()}"
    assert Notification.objects.filter(kind="member_nudge").count() == 1
    # The next day, the same quiet spell: no second task, no second nudge.
    tomorrow = TODAY + timedelta(days=1)
    retention.job_run(job="quiet_members", day=tomorrow, work=lambda: retention.quiet_members_process(today=tomorrow))
    assert FollowUpTask.objects.count() == 1
    assert Notification.objects.filter(kind="member_nudge").count() == 1
    assert JobRun.objects.filter(job="quiet_members", status="done").count() == 2


def _quiet_job_queries(today: date) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        result = retention.job_run(
            job="quiet_members", day=today, work=lambda: retention.quiet_members_process(today=today)
        )
    return len(queries), result.run.summary


def test_the_quiet_job_issues_as_many_queries_for_many_quiet_members_as_for_one(population):
    _quiet_job_queries(TODAY)  # files the population's quiet member (and creates the settings row)
    active_on(MemberFactory(display_name="Quiet too"), 20, 25, 30, 40, 50)
    one_count, one = _quiet_job_queries(TODAY + timedelta(days=1))
    for index in range(12):
        active_on(MemberFactory(display_name=f"Also quiet {index}"), 20, 25, 30, 40, 50)
    many_count, many = _quiet_job_queries(TODAY + timedelta(days=2))
    rerun_count, rerun = _quiet_job_queries(TODAY + timedelta(days=2))

    assert (one["new_tasks"], many["new_tasks"]) == (1, 12)  # a quiet spell is filed once, not every day
    assert many_count == one_count
    assert rerun == many and rerun_count <= 4  # the same day again: the run row is read, found done; nothing else
    assert FollowUpTask.objects.filter(kind="member_quiet").count() == 14
    assert Notification.objects.filter(kind="member_nudge").count() == 14
    task = FollowUpTask.objects.get(member__display_name="Also quiet 3")
    assert task.title == "Also quiet 3 has gone quiet" and task.url.endswith(f"/{task.member_id}/change/")


def test_thresholds_are_configurable(population):
    RetentionSettings.objects.update_or_create(pk=1, defaults={"quiet_min_active_days": 4})
    summary = retention.quiet_members_process(today=TODAY)
    assert summary["quiet"] == 2


def test_a_failing_job_is_logged_and_can_run_again():
    def boom():
        raise RuntimeError("down")

    result = retention.job_run(job="x", day=TODAY, work=boom)
    assert result.run.status == "failed" and "down" in result.run.summary["error"]
    ok = retention.job_run(job="x", day=TODAY, work=lambda: {"fine": 1})
    assert ok.ran and ok.run.status == "done" and ok.run.attempts == 2


def test_unanswered_questions_are_flagged_once():
    old = QuestionFactory(created_at=timezone.now() - timedelta(hours=72))
    QuestionFactory(created_at=timezone.now() - timedelta(hours=1))
    assert retention.unanswered_questions_process(now=timezone.now()) == {"flagged": 1}
    assert retention.unanswered_questions_process(now=timezone.now()) == {"flagged": 0}
    old.refresh_from_db()
    assert old.flagged_at is not None
    assert FollowUpTask.objects.get().kind == "question_unanswered"


def test_leavers_get_an_ask_why_task_once():
    MemberFactory(status=Member.Status.LEFT, left_at=timezone.now() - timedelta(days=1))
    assert retention.leavers_process(now=timezone.now()) == {"new_tasks": 1}
    assert retention.leavers_process(now=timezone.now()) == {"new_tasks": 0}


def test_weekly_digest_reaches_active_members_once_a_day(member, other_member):
    MemberFactory(status=Member.Status.LEFT)
    first = tasks.retention_job("weekly_digest")
    second = tasks.retention_job("weekly_digest")
    assert first["ran"] and not second["ran"]
    assert Notification.objects.filter(kind="community_digest").count() == 2


def test_onboarding_job_records_each_step_once(member):
    from community.models import Activity

    member.bio = "Hello"
    member.save()
    ActivityFactory(member=member, verb="checked_in")
    tasks.retention_job("onboarding")
    steps = Activity.objects.filter(member=member, verb="onboarding_step_completed")
    assert sorted(a.data["step"] for a in steps) == ["check_in", "profile"]
    from engage.services import onboarding

    assert onboarding.onboarding_sync(members=[member]) == 0


def test_the_portable_query_gives_the_same_answer(population):
    from django.db import connection

    params = {
        "window_start": TODAY - timedelta(days=90),
        "today": TODAY,
        "silent_since": TODAY - timedelta(days=13),
        "min_days": 5,
    }
    with connection.cursor() as cursor:
        cursor.execute(retention.QUIET_SQL_PORTABLE, params)
        portable = cursor.fetchall()
    assert portable == retention.quiet_members(today=TODAY, window_days=90, min_active_days=5, silent_days=14)
