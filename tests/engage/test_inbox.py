"""The operator inbox: services, page, admin and API, with permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from community.errors import ServiceError
from community.models import FollowUpTask
from community.services import follow_up_task_file
from engage.services import inbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(member):
    return follow_up_task_file(kind="member_quiet", title="Lin has gone quiet", member=member, dedupe_key="k1")[0]


def test_assign_snooze_done(task, operator, member):
    inbox.task_assign(task=task, assignee=operator.user, actor=operator.user)
    with pytest.raises(ServiceError):
        inbox.task_assign(task=task, assignee=member.user, actor=operator.user)
    with pytest.raises(ServiceError):
        inbox.task_snooze(task=task, until=timezone.now() - timedelta(hours=1), actor=operator.user)
    inbox.task_snooze(task=task, until=timezone.now() + timedelta(days=1), actor=operator.user)
    with pytest.raises(ServiceError):
        inbox.task_complete(task=task, outcome=" ", actor=operator.user)
    done = inbox.task_complete(task=task, outcome="Called; busy month", actor=operator.user)
    assert done.status == "done" and done.outcome == "Called; busy month" and done.completed_at
    with pytest.raises(ServiceError):
        inbox.task_snooze(task=task, until=timezone.now() + timedelta(days=1), actor=operator.user)


def test_snoozed_tasks_come_back_when_due(task, operator):
    from engage import selectors

    inbox.task_snooze(task=task, until=timezone.now() + timedelta(days=1), actor=operator.user)
    assert list(selectors.inbox_tasks()) == []
    assert list(selectors.inbox_tasks(now=timezone.now() + timedelta(days=2))) == [task]


def test_inbox_page_is_for_operators_only(web_operator, member, task):
    from django.test import Client

    assert web_operator.get("/inbox/").status_code == 200
    client = Client()
    client.force_login(member.user)
    assert client.get("/inbox/").status_code == 404
    assert client.post(f"/inbox/{task.pk}/done/", {"outcome": "x"}).status_code == 404


def test_inbox_page_works_tasks(web_operator, operator, task):
    response = web_operator.post(f"/inbox/{task.pk}/done/", {"outcome": "Reached by phone"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "done" and task.assignee == operator.user
    web_operator.post(f"/inbox/{task.pk}/reopen/")
    web_operator.post(f"/inbox/{task.pk}/snooze/", {"days": "3"})
    task.refresh_from_db()
    assert task.status == "snoozed"
    web_operator.post(f"/inbox/{task.pk}/snooze/", {"days": "99"})  # refused, no 500


@pytest.mark.parametrize("rows", [1, 6])
def test_inbox_page_query_count_is_constant(web_operator, member, django_assert_num_queries, rows):
    for index in range(rows):
        follow_up_task_file(kind="member_quiet", title=f"t{index}", member=member, dedupe_key=f"q{index}")
    web_operator.get("/inbox/")
    with django_assert_num_queries(INBOX_QUERIES):
        assert web_operator.get("/inbox/").status_code == 200


INBOX_QUERIES = 8


def test_api_tasks_permissions_and_actions(api_operator, api_member, api_anon, operator, task):
    assert api_anon.get("/api/v1/tasks/").status_code == 401
    assert api_member.get("/api/v1/tasks/").status_code == 403
    listing = api_operator.get("/api/v1/tasks/")
    assert listing.status_code == 200 and listing.json()["results"][0]["id"] == task.pk
    url = f"/api/v1/tasks/{task.pk}/"
    assert api_operator.post(url + "assign/", {"assignee": operator.user.pk}).json()["assignee"] == operator.user.pk
    until = (timezone.now() + timedelta(days=1)).isoformat()
    assert api_operator.post(url + "snooze/", {"until": until}).json()["status"] == "snoozed"
    assert api_operator.post(url + "complete/", {}).status_code == 400
    assert api_operator.post(url + "complete/", {"outcome": "ok"}).json()["status"] == "done"
    assert api_operator.get("/api/v1/tasks/?status=done").json()["count"] == 1
    assert api_operator.get("/api/v1/tasks/999999/").status_code == 404


@pytest.mark.parametrize("rows", [1, 6])
def test_api_tasks_query_count(api_operator, member, django_assert_num_queries, rows):
    for index in range(rows):
        follow_up_task_file(kind="member_quiet", title=f"t{index}", member=member, dedupe_key=f"q{index}")
    api_operator.get("/api/v1/tasks/")
    with django_assert_num_queries(TASK_API_QUERIES):
        api_operator.get("/api/v1/tasks/")


TASK_API_QUERIES = 2


def test_admin_lists_and_works_tasks(web_operator, task):
    assert web_operator.get("/admin/community/followuptask/").status_code == 200
    response = web_operator.post(
        "/admin/community/followuptask/", {"action": "mark_done", "_selected_action": [task.pk]}
    )
    assert response.status_code == 302
    assert FollowUpTask.objects.get(pk=task.pk).status == "done"
