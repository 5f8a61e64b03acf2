"""The issue's "done when", tried as a new user would: an operator creates a meetup in the admin, members register
and are checked in at the door, earn points; a quiet member is nudged and is in the operator inbox the next
morning; each member's inbox reads in their own language."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from community.models import FollowUpTask, Notification
from engage import tasks
from engage.models import Event, EventRegistration
from rewards.selectors.ledger import balance_for_member
from tests.factories import ActivityFactory, MemberFactory

pytestmark = pytest.mark.django_db


def as_client(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def test_meetup_from_admin_to_points_and_a_quiet_member_in_the_inbox(web_operator, operator):
    starts = timezone.localtime() + timedelta(days=2)
    response = web_operator.post(
        "/admin/engage/event/add/",
        {
            "title": "Spring meetup",
            "kind": "meetup",
            "description": "Come along",
            "location": "Shanghai",
            "starts_at_0": starts.strftime("%Y-%m-%d"),
            "starts_at_1": starts.strftime("%H:%M:%S"),
            "ends_at_0": (starts + timedelta(hours=2)).strftime("%Y-%m-%d"),
            "ends_at_1": (starts + timedelta(hours=2)).strftime("%H:%M:%S"),
            "capacity": "2",
            "status": "draft",
            "reminder_hours": "24",
            "winners_count": "0",
            "segments": "[]",
            "registrations-TOTAL_FORMS": "0",
            "registrations-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = Event.objects.get(title="Spring meetup")
    web_operator.post("/admin/engage/event/", {"action": "publish", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.status == "published"

    english, chinese, late = MemberFactory(locale="en"), MemberFactory(locale="zh-hans"), MemberFactory()
    for member in (english, chinese, late):
        assert as_client(member).post(f"/events/{event.pk}/register/").status_code == 302
    statuses = dict(EventRegistration.objects.values_list("member_id", "status"))
    assert statuses == {english.pk: "registered", chinese.pk: "registered", late.pk: "waitlisted"}

    before = balance_for_member(member=english).lifetime
    for member in (english, chinese):
        code = EventRegistration.objects.get(member=member).check_in_code
        assert web_operator.post(f"/events/{event.pk}/check-in/", {"code": code}).status_code == 302
    assert balance_for_member(member=english).lifetime > before

    # Each inbox reads in the member's language.
    english_titles = [n.title for n in Notification.objects.filter(member=english)]
    chinese_titles = [n.title for n in Notification.objects.filter(member=chinese)]
    assert any("You are registered" in title for title in english_titles)
    assert chinese_titles and not any("You are registered" in title for title in chinese_titles)
    assert "Spring meetup" in as_client(chinese).get("/notifications/").content.decode()

    # A member who was active and went silent: the morning job nudges them and files a task for the operators.
    quiet = MemberFactory(display_name="Quiet Qiu")
    for days in (20, 24, 30, 35, 40):
        moment = timezone.now() - timedelta(days=days)
        ActivityFactory(member=quiet, occurred_at=moment)
    result = tasks.retention_job("quiet_members")
    assert result["ran"] and result["summary"]["new_tasks"] == 1
    assert tasks.retention_job("quiet_members")["ran"] is False
    assert Notification.objects.filter(member=quiet, kind="member_nudge").count() == 1
    task = FollowUpTask.objects.get(kind="member_quiet")
    assert task.member == quiet
    inbox = web_operator.get("/inbox/").content.decode()
    assert "Quiet Qiu" in inbox
    assert isinstance(task.created_at, datetime)
