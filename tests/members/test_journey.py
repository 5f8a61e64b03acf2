"""The whole journey as a new user would try it: visitors apply (one in Chinese), an operator imports usage data,
sees ranked candidates with explanations, accepts the top ones up to capacity; the accepted get a welcome by
name and land in the portal; one of them leaves with a reason and the operator sees the follow-up."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from community.models import FollowUpTask, Notification
from members.models import Application, Member
from tests.members.factories import form_data, good_answers, standard_round

pytestmark = pytest.mark.django_db

HEADER = "email,active_days_30,session_minutes,tenure_days,paid,willing_to_pay,content_created\n"


def test_from_application_to_welcome_and_exit(web_operator, django_capture_on_commit_callbacks):
    round, p = standard_round(capacity=2)
    people = [
        ("wang@example.com", "王芳", "zh-hans", 28),
        ("ann@example.com", "Ann", "en", 20),
        ("bo@example.com", "Bo", "en", 3),
    ]
    for email, name, language, _days in people:
        visitor = Client()
        visitor.cookies["django_language"] = language
        data = {"email": email, "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"}
        with django_capture_on_commit_callbacks(execute=True):
            response = visitor.post(
                reverse("members:apply", args=[round.slug]),
                {**data, "display_name": name, **form_data(p, good_answers(p))},
            )
        assert response.status_code in (200, 302)
    assert Application.objects.filter(round=round).count() == 3

    csv = HEADER + "".join(f"{email},{days},20,100,no,yes,2\n" for email, _n, _l, days in people)
    upload = web_operator.post(
        reverse("admin:members_application_usage_upload"),
        {"round": round.pk, "file": SimpleUploadedFile("usage.csv", csv.encode())},
    )
    with django_capture_on_commit_callbacks(execute=True):
        web_operator.post(upload.url)

    queue = web_operator.get(reverse("admin:members_application_changelist"), {"round__id__exact": round.pk})
    ranked = [application.member.display_name for application in queue.context["cl"].result_list]
    assert ranked == ["王芳", "Ann", "Bo"]
    top = queue.context["cl"].result_list[0]
    explained = web_operator.get(reverse("admin:members_application_change", args=[top.pk])).content.decode()
    assert "percentile" in explained and "Developer" in explained

    with django_capture_on_commit_callbacks(execute=True):
        web_operator.post(
            reverse("admin:members_application_changelist"),
            {
                "action": "decide_accepted",
                "_selected_action": list(Application.objects.values_list("pk", flat=True)),
                "reason": "",
                "note": "",
            },
        )
    accepted = Member.objects.filter(applications__status="accepted").order_by("display_name")
    assert [m.display_name for m in accepted] == ["Ann", "王芳"]
    welcome = Notification.objects.get(member__display_name="王芳", kind="application_decision")
    assert "王芳" in welcome.title and "欢迎" in welcome.title

    wang = Member.objects.get(display_name="王芳")
    member_client = Client()
    member_client.force_login(wang.user)
    assert "王芳" in member_client.get(reverse("members:my_applications")).content.decode()
    assert member_client.get(reverse("portal:home")).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(reverse("members:leave"), {"reason": "no_time", "detail": "太忙了", "confirm": "on"})

    task = FollowUpTask.objects.get(kind="member_left", member=wang)
    assert "王芳" in task.title
    wang.refresh_from_db()
    assert wang.status == Member.Status.LEFT
