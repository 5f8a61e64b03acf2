"""The feedback API: visibility and permissions per persona, workflows, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from feedback import services
from feedback.models import FeedbackItem, Report, SurveyQuestion, SurveyResponse, Vote
from tests.feedback.factories import FeedbackItemFactory, QuestionFactory, SurveyFactory, png_upload

pytestmark = pytest.mark.django_db

LIST = "/api/v1/feedback/"


def detail(item):
    return f"/api/v1/feedback/{item.pk}/"


def test_anonymous_requests_are_refused(api_anon):
    assert api_anon.get(LIST).status_code == 401
    assert api_anon.post(LIST, {}).status_code == 401


def test_a_member_submits_with_integration_context(api_member, member):
    response = api_member.post(
        LIST,
        {
            "kind": "bug",
            "title": "Crash when exporting",
            "body": "Steps:\n\n1. Open\n2. <script>x()</script>",
            "app_version": "4.1.0",
            "device": "iPhone 15",
            "page_url": "https://app.example.com/reports",
        },
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["author"], data["source"], data["status"], data["app_version"]) == (member.pk, "api", "new", "4.1.0")
    assert "<script" not in data["body_html"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "bug", "title": "Fine title", "body": ""}, "body"),
        ({"kind": "bug", "title": "Fine title", "body": "x" * 100_000}, "body"),
        ({"kind": "nope", "title": "Fine title", "body": "ok"}, "kind"),
        ({"kind": "bug", "title": "Fine title", "body": "ok", "page_url": "ftp://x"}, "page_url"),
    ],
)
def test_bad_submissions_answer_400_with_the_field(api_member, payload, field):
    response = api_member.post(LIST, payload)

    assert response.status_code == 400
    assert field in response.json()
    assert not FeedbackItem.objects.exists()


def test_a_muted_member_cannot_post_through_the_api(api_member, member, moderator):
    services.moderation_mute(member=member, actor=moderator.user, reason="Spam", until=timezone.now() + timedelta(1))

    response = api_member.post(LIST, {"kind": "idea", "title": "Something new", "body": "Please"})

    assert response.status_code == 400
    assert response.json()["code"] == "muted"


def test_members_see_public_and_their_own_private_feedback(api_member, api_other, member, other_member):
    public = FeedbackItemFactory(author=other_member)
    theirs = FeedbackItemFactory(author=other_member, visibility="private")
    mine = FeedbackItemFactory(author=member, visibility="private")

    ids = {row["id"] for row in api_member.get(LIST).json()["results"]}

    assert ids == {public.pk, mine.pk}
    assert api_member.get(detail(theirs)).status_code == 404
    assert api_member.get(detail(mine)).status_code == 200
    assert api_other.get(detail(theirs)).status_code == 200


def test_operators_see_everything(api_operator, member):
    private = FeedbackItemFactory(author=member, visibility="private")

    assert api_operator.get(detail(private)).status_code == 200


def test_the_list_filters_sorts_and_keeps_a_constant_query_count(api_member, member, django_assert_num_queries):
    for n in range(3):
        FeedbackItemFactory(kind="bug", vote_count=n)
    FeedbackItemFactory(kind="idea", vote_count=10)
    with django_assert_num_queries(2):  # count, page
        few = api_member.get(LIST, {"kind": "bug", "sort": "votes"})
    for n in range(20):
        FeedbackItemFactory(kind="bug", vote_count=n + 3)
    with django_assert_num_queries(2):
        many = api_member.get(LIST, {"kind": "bug", "sort": "votes"})

    assert [row["vote_count"] for row in few.json()["results"]] == [2, 1, 0]
    counts = [row["vote_count"] for row in many.json()["results"]]
    assert counts == sorted(counts, reverse=True) and len(counts) == 23
    newest = api_member.get(LIST, {"sort": "new"}).json()["results"]
    assert newest[0]["id"] > newest[-1]["id"]


def test_voting_and_unvoting(api_member, api_other, member, other_member):
    item = FeedbackItemFactory(author=other_member)

    first = api_member.post(f"{detail(item)}vote/")
    again = api_member.post(f"{detail(item)}vote/")
    own = api_other.post(f"{detail(item)}vote/")

    assert (first.status_code, again.status_code, own.status_code) == (201, 200, 400)
    assert first.json() == {"voted": True, "vote_count": 1}
    assert api_member.delete(f"{detail(item)}vote/").json() == {"voted": False, "vote_count": 0}
    assert not Vote.objects.exists()


def test_voting_on_someone_elses_private_item_is_404(api_member, other_member):
    item = FeedbackItemFactory(author=other_member, visibility="private")

    assert api_member.post(f"{detail(item)}vote/").status_code == 404


def test_subscribing(api_member, other_member, member):
    item = FeedbackItemFactory(author=other_member)

    assert api_member.post(f"{detail(item)}subscribe/").json() == {"subscribed": True}
    assert item.subscriptions.filter(member=member).exists()
    assert api_member.delete(f"{detail(item)}subscribe/").json() == {"subscribed": False}


def test_only_operators_change_status_and_merge(api_member, api_operator, member):
    item = FeedbackItemFactory(author=member)
    other = FeedbackItemFactory(author=member)

    assert api_member.post(f"{detail(item)}status/", {"status": "planned"}).status_code == 403
    changed = api_operator.post(f"{detail(item)}status/", {"status": "planned", "note": "Soon"})
    assert (changed.status_code, changed.json()["status"]) == (200, "planned")
    assert api_operator.post(f"{detail(item)}status/", {"status": "nonsense"}).status_code == 400

    assert api_member.post(f"{detail(other)}merge/", {"original": item.pk}).status_code == 403
    merged = api_operator.post(f"{detail(other)}merge/", {"original": item.pk})
    assert (merged.status_code, merged.json()["id"]) == (200, item.pk)
    back = api_operator.post(f"{detail(item)}merge/", {"original": other.pk})
    assert back.status_code == 400 and "original" in back.json()


def test_replies_are_posted_by_operators_and_read_by_members(api_member, api_operator, member):
    item = FeedbackItemFactory(author=member)

    assert api_member.post(f"{detail(item)}replies/", {"body": "me too"}).status_code == 403
    posted = api_operator.post(f"{detail(item)}replies/", {"body": "Fixed in **4.2**"})
    assert posted.status_code == 201
    replies = api_member.get(f"{detail(item)}replies/").json()
    assert [reply["body"] for reply in replies] == ["Fixed in **4.2**"]
    assert "<strong>4.2</strong>" in replies[0]["body_html"]


def test_triage_is_for_operators_and_edits_for_the_submitter(api_member, api_other, api_operator, member):
    item = FeedbackItemFactory(author=member)

    assert api_member.patch(detail(item), {"priority": 3}).status_code == 403
    assert api_other.patch(detail(item), {"title": "Hijacked title"}).status_code == 403
    assert api_member.patch(detail(item), {"title": "A better title"}).json()["title"] == "A better title"
    triaged = api_operator.patch(detail(item), {"priority": 3, "visibility": "private"})
    assert (triaged.json()["priority"], triaged.json()["visibility"]) == (3, "private")


def test_deleting_is_for_operators(api_member, api_operator, member):
    item = FeedbackItemFactory(author=member)

    assert api_member.delete(detail(item)).status_code == 403
    assert api_operator.delete(detail(item)).status_code == 204


def test_attachments_upload(api_member, api_other, member, other_member):
    item = FeedbackItemFactory(author=member)
    other_item = FeedbackItemFactory(author=other_member)

    good = api_member.post(f"{detail(item)}attachments/", {"file": png_upload()}, format="multipart")
    renamed = api_member.post(
        f"{detail(item)}attachments/",
        {"file": SimpleUploadedFile("cat.png", b"MZ\x90\x00" + b"\x00" * 64)},
        format="multipart",
    )
    not_theirs = api_member.post(f"{detail(other_item)}attachments/", {"file": png_upload()}, format="multipart")

    assert good.status_code == 201 and good.json()["kind"] == "image"
    assert renamed.status_code == 400 and "attachments" in renamed.json()
    assert not_theirs.status_code == 403


def test_statuses_are_listed(api_member):
    keys = [row["key"] for row in api_member.get("/api/v1/feedback-statuses/").json()]

    assert keys == ["new", "acknowledged", "planned", "in_progress", "done", "declined", "duplicate"]


def test_surveys_answered_once_and_results_for_operators(api_member, api_operator, member):
    survey = SurveyFactory()
    question = QuestionFactory(survey=survey, kind=SurveyQuestion.Kind.NPS)
    SurveyFactory(title="Someone else's", target_segments=["loyal"])

    listed = api_member.get("/api/v1/surveys/").json()["results"]
    assert [row["id"] for row in listed] == [survey.pk]
    first = api_member.post(f"/api/v1/surveys/{survey.pk}/respond/", {"answers": {str(question.pk): "10"}})
    again = api_member.post(f"/api/v1/surveys/{survey.pk}/respond/", {"answers": {str(question.pk): "0"}})
    assert (first.status_code, again.status_code) == (201, 400)
    assert SurveyResponse.objects.count() == 1
    assert api_member.get(f"/api/v1/surveys/{survey.pk}/results/").status_code == 403
    results = api_operator.get(f"/api/v1/surveys/{survey.pk}/results/").json()
    assert results["questions"][0]["nps"] == 100.0


def test_reports_are_filed_and_seen_by_their_reporter_and_moderators(
    api_member, api_other, member, other_member, moderator
):
    item = FeedbackItemFactory(author=other_member)

    filed = api_member.post("/api/v1/reports/", {"target_type": "feedback", "target_id": item.pk, "reason": "spam"})
    twice = api_member.post("/api/v1/reports/", {"target_type": "feedback", "target_id": item.pk, "reason": "ads"})
    missing = api_member.post("/api/v1/reports/", {"target_type": "feedback", "target_id": 999999, "reason": "spam"})
    person = api_member.post(
        "/api/v1/reports/", {"target_type": "member", "target_id": other_member.pk, "reason": "other", "note": "Rude"}
    )

    assert (filed.status_code, twice.status_code, missing.status_code, person.status_code) == (201, 400, 404, 201)
    assert len(api_member.get("/api/v1/reports/").json()["results"]) == 2
    assert api_other.get("/api/v1/reports/").json()["results"] == []
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(moderator.user)
    assert len(client.get("/api/v1/reports/").json()["results"]) == 2
    assert Report.objects.filter(target_member=other_member).count() == 2


def test_a_member_cannot_report_someone_elses_private_item(api_member, other_member):
    item = FeedbackItemFactory(author=other_member, visibility="private")

    response = api_member.post("/api/v1/reports/", {"target_type": "feedback", "target_id": item.pk, "reason": "spam"})

    assert response.status_code == 404


def test_a_removed_member_cannot_post(api_member, member, moderator):
    services.moderation_remove(member=member, actor=moderator.user, reason="Abuse")

    response = api_member.post(LIST, {"kind": "idea", "title": "Something new", "body": "Please"})

    assert response.status_code == 400
    assert response.json()["code"] == "not_active"
