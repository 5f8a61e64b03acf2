"""Usage data import: CSV preview with a report per row (unknown, invalid, duplicate), nothing imported until the
operator confirms; a wrong encoding or wrong columns is refused as a whole; the admin pages around it."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from members.models import Scorecard, UsageImport, UsageMetric
from members.services.usage import usage_import_confirm, usage_import_preview
from tests.factories import MemberFactory, UserFactory
from tests.members.factories import ApplicationFactory, RoundFactory

pytestmark = pytest.mark.django_db

HEADER = "email,active_days_30,session_minutes,tenure_days,paid,willing_to_pay,content_created\n"


@pytest.fixture
def round_with_applicants():
    round = RoundFactory()
    ann = ApplicationFactory(round=round, member=MemberFactory(user=UserFactory(email="ann@example.com")))
    bob = ApplicationFactory(round=round, member=MemberFactory(user=UserFactory(email="bob@example.com")))
    return round, ann, bob


def test_a_preview_reports_every_row_and_imports_nothing(
    round_with_applicants, operator, django_capture_on_commit_callbacks
):
    round, ann, _bob = round_with_applicants
    content = (
        HEADER
        + "ann@example.com,20,12.5,200,yes,no,3\n"
        + "nobody@example.com,5,1,1,no,no,0\n"
        + "BOB@example.com,45,1,1,no,no,0\n"
        + "ann@example.com,1,1,1,no,no,0\n"
        + ",1,1,1,no,no,0\n"
    ).encode()

    usage_import = usage_import_preview(round=round, filename="usage.csv", content=content, actor=operator.user)

    statuses = [(row["row"], row["status"]) for row in usage_import.report]
    assert statuses == [(2, "ok"), (3, "unknown"), (4, "invalid"), (5, "duplicate"), (6, "invalid")]
    assert not UsageMetric.objects.exists()
    assert usage_import.status == UsageImport.Status.PREVIEW

    with django_capture_on_commit_callbacks(execute=True):
        assert usage_import_confirm(usage_import=usage_import, actor=operator.user) == 1

    metric = UsageMetric.objects.get()
    assert metric.application == ann
    assert (metric.active_days_30, metric.tenure_days, metric.paid, metric.content_created) == (20, 200, True, 3)
    assert Scorecard.objects.filter(application=ann).exists()  # rescored after the import


def test_a_confirmed_import_cannot_be_applied_twice(round_with_applicants, operator):
    from community.errors import ServiceError

    round, *_ = round_with_applicants
    usage_import = usage_import_preview(
        round=round,
        filename="u.csv",
        content=(HEADER + "ann@example.com,1,1,1,no,no,0\n").encode(),
        actor=operator.user,
    )
    usage_import_confirm(usage_import=usage_import, actor=operator.user)

    with pytest.raises(ServiceError):
        usage_import_confirm(usage_import=usage_import, actor=operator.user)


def test_importing_again_updates_the_metrics(round_with_applicants, operator):
    round, ann, _bob = round_with_applicants
    for days in (3, 9):
        usage_import = usage_import_preview(
            round=round,
            filename="u.csv",
            content=(HEADER + f"ann@example.com,{days},1,1,no,no,0\n").encode(),
            actor=operator.user,
        )
        usage_import_confirm(usage_import=usage_import, actor=operator.user)

    assert UsageMetric.objects.get(application=ann).active_days_30 == 9


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ((HEADER + "ann@example.com,1,1,1,是,否,0\n").encode("gb18030"), "UTF-8"),
        (b"mail,days\nann@example.com,3\n", "columns"),
        (HEADER.encode(), "no rows"),
    ],
)
def test_a_bad_file_is_refused_as_a_whole(round_with_applicants, operator, content, expected):
    round, *_ = round_with_applicants

    usage_import = usage_import_preview(round=round, filename="bad.csv", content=content, actor=operator.user)

    assert expected in usage_import.error
    assert usage_import.rows == []


def test_the_admin_upload_previews_then_imports_on_confirmation(round_with_applicants, web_operator):
    round, ann, _bob = round_with_applicants
    upload = SimpleUploadedFile(
        "usage.csv", (HEADER + "ann@example.com,7,3,30,no,yes,1\nzed@example.com,1,1,1,no,no,0\n").encode()
    )

    response = web_operator.post(reverse("admin:members_application_usage_upload"), {"round": round.pk, "file": upload})

    assert response.status_code == 302
    preview = web_operator.get(response.url)
    body = preview.content.decode()
    assert "zed@example.com" in body and "No application in this round" in body
    assert not UsageMetric.objects.exists()

    confirmed = web_operator.post(response.url)

    assert confirmed.status_code == 302
    assert UsageMetric.objects.get().application == ann


def test_the_import_pages_are_for_operators_only(web_member):
    response = web_member.get(reverse("admin:members_application_usage_upload"))

    assert response.status_code == 302 and "/login/" in response.url
