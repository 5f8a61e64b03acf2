"""The issue's "done when", as a new user would try it, with the Chinese catalogue compiled from the partial."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import trans_real
from rest_framework.test import APIClient

from community.models import Notification
from feedback import selectors, services
from feedback.models import FeedbackItem, SurveyQuestion
from rewards.models import PointEntry
from tests.factories import MemberFactory
from tests.feedback.factories import QuestionFactory, SurveyFactory, png_upload, status

pytestmark = pytest.mark.django_db

PARTIAL = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "partials" / "feedback.po"


@pytest.fixture
def chinese_catalogue(tmp_path):
    """This app's partial catalogue compiled in front of the shipped one, as the lead's merge will make it."""
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt is not installed")
    target = tmp_path / "zh_Hans" / "LC_MESSAGES"
    target.mkdir(parents=True)
    subprocess.run([msgfmt, "-o", str(target / "django.mo"), str(PARTIAL)], check=True)
    with override_settings(LOCALE_PATHS=[tmp_path, *settings.LOCALE_PATHS]):
        trans_real._translations = {}
        trans_real._default = None
        yield
    trans_real._translations = {}
    trans_real._default = None


def test_a_bug_with_a_screenshot_is_voted_merged_answered_and_done(client, chinese_catalogue):
    filer = MemberFactory(display_name="Filer", locale="zh-hans")
    voter = MemberFactory(display_name="Voter", locale="en")
    dup_author = MemberFactory(display_name="Dup", locale="zh-hans")
    from tests.factories import staff_member

    operator = staff_member("operator", display_name="Op")

    # The member submits a bug with a screenshot in the portal.
    client.force_login(filer.user)
    response = client.post(
        reverse("feedback:submit"),
        {
            "kind": "bug",
            "title": "Export crashes",
            "body": "Crash on export",
            "visibility": "public",
            "attachments": [png_upload()],
        },
    )
    assert response.status_code == 302
    item = FeedbackItem.objects.get(author=filer)
    assert item.attachments.count() == 1

    # Another member votes through the API; a third filed a duplicate.
    api = APIClient()
    api.force_authenticate(voter.user)
    assert api.post(f"/api/v1/feedback/{item.pk}/vote/").status_code == 201
    duplicate = services.item_submit(author=dup_author, kind="bug", title="Exporting crashes the app", body="Same")

    # The operator merges the duplicate, replies and marks it done.
    services.item_merge(duplicate=duplicate, original=item, actor=operator.user)
    services.reply_post(item=item, author=operator, body="Fixed in 5.0")
    services.item_status_change(item=item, actor=operator.user, status=status("done"))
    services.item_status_change(item=item, actor=operator.user, status=status("in_progress"))  # re-opened
    services.item_status_change(item=item, actor=operator.user, status=status("done"))  # accepted again

    # All three people are notified, each in their own language.
    for person in (filer, voter, dup_author):
        kinds = set(Notification.objects.filter(member=person).values_list("kind", flat=True))
        assert {"feedback_reply", "feedback_status_changed"} <= kinds, person
    done_for_filer = Notification.objects.filter(member=filer, kind="feedback_status_changed").first()
    done_for_voter = Notification.objects.filter(member=voter, kind="feedback_status_changed").first()
    assert "已完成" in done_for_filer.title
    assert "Done" in done_for_voter.title
    assert "回复" in Notification.objects.get(member=dup_author, kind="feedback_reply").title

    # The submitter earns the accepted-feedback reward once.
    assert PointEntry.objects.filter(member=filer, rule__verb="feedback_accepted").count() == 1
    assert PointEntry.objects.filter(member=dup_author, rule__verb="feedback_accepted").count() == 0

    # An NPS survey's score appears in results.
    survey = SurveyFactory(title="NPS")
    question = QuestionFactory(survey=survey, kind=SurveyQuestion.Kind.NPS)
    for person, score in ((filer, 10), (voter, 9), (dup_author, 4)):
        services.survey_respond(survey=survey, member=person, answers={question.pk: score})
    assert selectors.survey_results(survey=survey)["questions"][0]["nps"] == 33.3
    client.force_login(operator.user)
    page = client.get(reverse("admin:feedback_survey_results", args=[survey.pk]))
    assert page.status_code == 200 and "33.3" in page.content.decode()


def test_the_portal_speaks_chinese(client, member, chinese_catalogue):
    member.locale = "zh-hans"
    member.save()
    client.force_login(member.user)

    with translation.override("zh-hans"):
        page = client.get(reverse("feedback:submit"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "提交反馈" in page
