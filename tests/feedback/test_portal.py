"""Portal pages: list, submit (with files), detail, voting, suggestions, surveys, reports, files."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from feedback import services
from feedback.models import Attachment, FeedbackItem, Report, SurveyQuestion, SurveyResponse, Vote
from tests.factories import MemberFactory
from tests.feedback.factories import FeedbackItemFactory, QuestionFactory, SurveyFactory, png_upload

pytestmark = pytest.mark.django_db


def test_the_urls_are_named_as_agreed():
    assert reverse("feedback:list") == "/feedback/"
    assert reverse("feedback:submit") == "/feedback/new/"


def test_the_list_needs_a_log_in(client):
    assert client.get(reverse("feedback:list")).status_code == 302


def test_the_list_has_a_constant_query_count(web_member, member, django_assert_num_queries):
    FeedbackItemFactory(kind="bug")

    def load():
        response = web_member.get(reverse("feedback:list"), {"kind": "bug", "sort": "impact"})
        assert response.status_code == 200
        return response

    load()  # warm caches
    with django_assert_num_queries(8) as few:
        load()
    for _ in range(30):
        FeedbackItemFactory(kind="bug", author=MemberFactory())
    with django_assert_num_queries(len(few.captured_queries)):
        response = load()
    assert response.content.decode().count('href="/feedback/') >= 31


def test_the_list_hides_other_members_private_feedback(web_member, member, other_member):
    FeedbackItemFactory(author=other_member, title="Their secret thing", visibility="private")
    FeedbackItemFactory(author=member, title="My own secret thing", visibility="private")

    page = web_member.get(reverse("feedback:list")).content.decode()

    assert "My own secret thing" in page and "Their secret thing" not in page


def test_submitting_a_bug_with_a_screenshot(web_member, member):
    response = web_member.post(
        reverse("feedback:submit"),
        {
            "kind": "bug",
            "title": "Chart is blank",
            "body": "The **chart** is blank.",
            "visibility": "public",
            "attachments": [png_upload()],
        },
    )

    item = FeedbackItem.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("feedback:detail", args=[item.pk])
    assert Attachment.objects.filter(item=item, kind="image").count() == 1
    page = web_member.get(response["Location"]).content.decode()
    assert "<strong>chart</strong>" in page and reverse("feedback:attachment", args=[item.attachments.get().pk]) in page


def test_a_renamed_executable_shows_a_form_error(web_member):
    response = web_member.post(
        reverse("feedback:submit"),
        {
            "kind": "bug",
            "title": "Chart is blank",
            "body": "Look",
            "visibility": "public",
            "attachments": [SimpleUploadedFile("shot.png", b"MZ\x90\x00" + b"\x00" * 64)],
        },
    )

    assert response.status_code == 400
    assert "not an image or a log" in response.content.decode()
    assert not FeedbackItem.objects.exists()


def test_a_muted_member_sees_why_and_cannot_submit(web_member, member, moderator):
    services.moderation_mute(member=member, actor=moderator.user, reason="Spam", until=timezone.now() + timedelta(1))

    page = web_member.get(reverse("feedback:submit")).content.decode()
    response = web_member.post(
        reverse("feedback:submit"), {"kind": "idea", "title": "New idea here", "body": "x", "visibility": "public"}
    )

    assert "You are muted until" in page
    assert response.status_code == 400 and not FeedbackItem.objects.exists()


def test_the_submit_page_has_no_inline_script(web_member):
    page = web_member.get(reverse("feedback:submit")).content.decode()

    assert "/static/feedback/similar.js" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\son[a-z]+=", page)
    assert 'data-similar-url="/feedback/similar/"' in page


def test_similar_feedback_is_suggested_while_typing(web_member, member, other_member):
    match = FeedbackItemFactory(author=other_member, title="Export to CSV is broken", vote_count=4)
    FeedbackItemFactory(author=other_member, title="Dark mode please")
    hidden = FeedbackItemFactory(author=other_member, title="Export private thing", visibility="private")

    results = web_member.get(reverse("feedback:similar"), {"q": "expor csv"}).json()["results"]

    assert [row["id"] for row in results][:1] == [match.pk]
    assert hidden.pk not in [row["id"] for row in results]
    assert web_member.get(reverse("feedback:similar"), {"q": ""}).json() == {"results": []}


def test_the_detail_page_shows_the_whole_history(web_member, member, operator):
    item = services.item_submit(author=member, kind="bug", title="Crash on save", body="It crashes.")
    services.reply_post(item=item, author=operator, body="We reproduced it.")
    from tests.feedback.factories import status

    services.item_status_change(item=item, actor=operator.user, status=status("done"), note="Fixed in 2.1")
    services.note_add(item=item, actor=operator.user, body="Internal: blame the cache")

    page = web_member.get(reverse("feedback:detail", args=[item.pk])).content.decode()

    assert "We reproduced it." in page and "Fixed in 2.1" in page and "Done" in page
    assert "blame the cache" not in page


def test_another_members_private_feedback_is_404(web_member, other_member):
    item = FeedbackItemFactory(author=other_member, visibility="private")

    assert web_member.get(reverse("feedback:detail", args=[item.pk])).status_code == 404
    assert web_member.post(reverse("feedback:vote", args=[item.pk])).status_code == 404


def test_voting_and_following_from_the_page(web_member, member, other_member):
    item = FeedbackItemFactory(author=other_member)

    web_member.post(reverse("feedback:vote", args=[item.pk]))
    web_member.post(reverse("feedback:subscribe", args=[item.pk]))

    assert Vote.objects.filter(item=item, member=member).exists()
    item.refresh_from_db()
    assert item.vote_count == 1
    assert item.subscriptions.filter(member=member).exists()
    web_member.post(reverse("feedback:vote", args=[item.pk]), {"action": "remove"})
    assert not Vote.objects.exists()


def test_my_feedback(web_member, member, other_member):
    FeedbackItemFactory(author=member, title="Mine to see")
    FeedbackItemFactory(author=other_member, title="Not mine")

    page = web_member.get(reverse("feedback:mine")).content.decode()

    assert "Mine to see" in page and "Not mine" not in page
    assert "Your contribution score" in page


def test_files_are_served_as_data(web_member, member, other_member):
    item = services.item_submit(
        author=member,
        kind="bug",
        title="With a log",
        body="See log",
        attachments=[SimpleUploadedFile("app.log", b"<script>alert(1)</script>")],
    )
    attachment = item.attachments.get()

    response = web_member.get(reverse("feedback:attachment", args=[attachment.pk]))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in response["Content-Disposition"]
    assert "sandbox" in response["Content-Security-Policy"]


def test_files_of_someone_elses_private_feedback_are_404(web_member, other_member):
    item = services.item_submit(
        author=other_member,
        kind="bug",
        title="Private shot",
        body="x",
        visibility="private",
        attachments=[png_upload()],
    )

    assert web_member.get(reverse("feedback:attachment", args=[item.attachments.get().pk])).status_code == 404


def test_answering_a_survey_once(web_member, member):
    survey = SurveyFactory(title="Quarterly pulse")
    nps = QuestionFactory(survey=survey, kind=SurveyQuestion.Kind.NPS)
    text = QuestionFactory(survey=survey, kind=SurveyQuestion.Kind.TEXT, prompt="Why?", required=False)

    assert "Quarterly pulse" in web_member.get(reverse("feedback:surveys")).content.decode()
    url = reverse("feedback:survey_answer", args=[survey.pk])
    bad = web_member.post(url, {f"q{nps.pk}": "11"})
    good = web_member.post(url, {f"q{nps.pk}": "9", f"q{text.pk}": "Fast"})

    assert bad.status_code == 400
    assert good.status_code == 302
    assert SurveyResponse.objects.filter(member=member).count() == 1
    assert "answered this survey already" in web_member.get(url).content.decode()


def test_a_survey_for_others_is_404(web_member):
    survey = SurveyFactory(target_segments=["loyal"])

    assert web_member.get(reverse("feedback:survey_answer", args=[survey.pk])).status_code == 404


def test_reporting_from_the_portal(web_member, member, other_member):
    item = FeedbackItemFactory(author=other_member)
    url = reverse("feedback:report", args=["feedback", item.pk])

    assert web_member.get(url).status_code == 200
    response = web_member.post(url, {"reason": "ads", "note": "Selling shoes"})
    again = web_member.post(url, {"reason": "ads"})

    assert response.status_code == 302
    assert again.status_code == 400
    assert Report.objects.get().target_member == other_member
    assert web_member.get(reverse("feedback:report", args=["member", other_member.pk])).status_code == 200
    assert web_member.get(reverse("feedback:report", args=["nonsense", 1])).status_code == 404


def test_a_100_kb_body_is_refused_with_a_form_error_and_nothing_stored(web_member):
    response = web_member.post(
        reverse("feedback:submit"), {"kind": "idea", "title": "Long one", "body": "x" * 100_000, "visibility": "public"}
    )

    assert response.status_code == 400
    assert "Keep the text to 20000 characters" in response.content.decode()
    assert not FeedbackItem.objects.exists()


def test_the_detail_page_offers_to_report_the_member(web_member, other_member):
    item = FeedbackItemFactory(author=other_member)

    page = web_member.get(reverse("feedback:detail", args=[item.pk])).content.decode()

    assert reverse("feedback:report", args=["member", other_member.pk]) in page
