"""Content: topics and replies, questions and answers, the knowledge base, reporting and muting."""

from __future__ import annotations

import pytest

from community.errors import ServiceError
from community.models import Activity, Notification
from engage.models import Answer, TopicReply
from engage.services import content
from tests.engage.factories import AnswerFactory, ArticleFactory, CategoryFactory, QuestionFactory, TopicFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_reply_is_markdown_sanitised_when_shown(web_member, member):
    topic = TopicFactory()
    response = web_member.post(
        f"/content/topics/{topic.pk}/", {"body": "**bold** <script>alert(1)</script> [x](javascript:alert(1))"}
    )
    assert response.status_code == 302
    page = web_member.get(f"/content/topics/{topic.pk}/").content.decode()
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)" not in page and "javascript:" not in page
    assert Activity.objects.filter(member=member, verb="topic_replied").count() == 1


def test_closed_topic_refuses_replies(member):
    topic = TopicFactory(is_open=False)
    with pytest.raises(ServiceError):
        content.topic_reply_create(member=member, topic=topic, body="hi")


def test_answering_records_the_rewardable_verb_once_and_tells_the_asker(member, other_member):
    question = QuestionFactory(member=other_member)
    content.question_answer(member=member, question=question, body="Try this")
    content.question_answer(member=member, question=question, body="Or that")
    assert Activity.objects.filter(member=member, verb="question_answered").count() == 1
    question.refresh_from_db()
    assert question.answered_at is not None
    assert Notification.objects.filter(member=other_member, kind="question_answered").count() == 2


def test_answering_your_own_question_is_refused(member):
    with pytest.raises(ServiceError):
        content.question_answer(member=member, question=QuestionFactory(member=member), body="me")


def test_empty_and_huge_bodies_are_refused(member):
    question = QuestionFactory()
    with pytest.raises(ServiceError):
        content.question_answer(member=member, question=question, body="  ")
    with pytest.raises(ServiceError):
        content.question_answer(member=member, question=question, body="x" * 10_001)


def test_muted_members_are_refused(member, monkeypatch):
    monkeypatch.setattr(content, "_is_muted", lambda m: True)
    with pytest.raises(ServiceError, match="muted"):
        content.question_ask(member=member, title="Why?")
    with pytest.raises(ServiceError, match="muted"):
        content.topic_reply_create(member=member, topic=TopicFactory(), body="x")


def test_muting_reads_the_moderation_selector(member):
    """With the moderation app's selector in place, a member it does not mute may post."""
    pytest.importorskip("feedback.selectors")
    from feedback import selectors

    if not hasattr(selectors, "member_is_muted"):
        pytest.skip("feedback.selectors.member_is_muted not available yet")
    assert content._is_muted(member) is False


def test_report_view_calls_the_moderation_service(web_member, member, monkeypatch):
    question = QuestionFactory()
    answer = AnswerFactory(question=question)
    calls = []

    def fake_report(*, reporter, target, reason, note=""):
        calls.append((reporter, target, reason, note))

    import feedback.services as feedback_services

    monkeypatch.setattr(feedback_services, "report_file", fake_report, raising=False)
    response = web_member.post(f"/content/report/answer/{answer.pk}/", {"reason": "spam", "note": "ads"})
    assert response.status_code == 302
    assert calls == [(member, answer, "spam", "ads")]
    assert web_member.post("/content/report/nothing/1/", {"reason": "spam"}).status_code == 404
    assert web_member.post("/content/report/answer/999999/", {"reason": "spam"}).status_code == 404


def test_reporting_files_a_moderation_report(web_member, member):
    feedback_services = pytest.importorskip("feedback.services")
    if not hasattr(feedback_services, "report_file"):
        pytest.skip("feedback.services.report_file not available yet")
    from feedback.models import Report

    reply = TopicReply.objects.create(topic=TopicFactory(), member=MemberFactory(), body="buy now")
    response = web_member.post(f"/content/report/reply/{reply.pk}/", {"reason": "ads", "note": "spam link"})
    assert response.status_code == 302
    report = Report.objects.get()
    assert report.reporter == member and report.target_id == str(reply.pk)


def test_knowledge_base_search_and_categories(web_member):
    faq = CategoryFactory(name="FAQ things", slug="faq-things")
    ArticleFactory(category=faq, title="Reset your password", body="Use the link", is_faq=True)
    ArticleFactory(title="Invite teammates", body="Settings → Team")
    ArticleFactory(title="Hidden draft", body="password", is_published=False)
    page = web_member.get("/content/kb/?q=password").content.decode()
    assert "Reset your password" in page and "Invite teammates" not in page and "Hidden draft" not in page
    assert "Invite teammates" not in web_member.get("/content/kb/?faq=1").content.decode()
    assert "Reset your password" in web_member.get("/content/kb/?category=faq-things").content.decode()


def test_hub_shows_the_checklist_and_records_the_profile_step(web_member, member):
    member.bio = "I build things"
    member.save()
    page = web_member.get("/content/").content.decode()
    assert "Complete your profile" in page and "Join an event" in page
    assert Activity.objects.filter(member=member, verb="onboarding_step_completed", data__step="profile").exists()


@pytest.mark.parametrize("rows", [1, 5])
def test_question_page_query_count_is_constant(web_member, django_assert_num_queries, rows):
    question = QuestionFactory()
    AnswerFactory.create_batch(rows, question=question)
    web_member.get(f"/content/questions/{question.pk}/")
    with django_assert_num_queries(QUESTION_PAGE_QUERIES):
        web_member.get(f"/content/questions/{question.pk}/")


QUESTION_PAGE_QUERIES = 6


@pytest.mark.parametrize("rows", [1, 5])
def test_topic_page_query_count_is_constant(web_member, member, django_assert_num_queries, rows):
    topic = TopicFactory()
    for _ in range(rows):
        TopicReply.objects.create(topic=topic, member=member, body="hi")
    web_member.get(f"/content/topics/{topic.pk}/")
    with django_assert_num_queries(TOPIC_PAGE_QUERIES):
        web_member.get(f"/content/topics/{topic.pk}/")


TOPIC_PAGE_QUERIES = 6


def test_content_api(api_member, api_other, api_anon, other_member):
    topic = TopicFactory()
    reply = api_member.post(f"/api/v1/topics/{topic.pk}/replies/", {"body": "*hi*"})
    assert reply.status_code == 201 and "<em>hi</em>" in reply.json()["body_html"]
    assert api_member.get(f"/api/v1/topics/{topic.pk}/replies/").json()[0]["author"] == "Lin Mei"
    asked = api_other.post("/api/v1/questions/", {"title": "How?"})
    assert asked.status_code == 201
    qid = asked.json()["id"]
    assert api_other.post(f"/api/v1/questions/{qid}/answers/", {"body": "me"}).status_code == 400
    assert api_member.post(f"/api/v1/questions/{qid}/answers/", {"body": "so"}).status_code == 201
    assert api_member.get("/api/v1/questions/?unanswered=1").json()["count"] == 0
    ArticleFactory(title="Reset password")
    assert api_member.get("/api/v1/articles/?q=reset").json()["count"] == 1
    assert api_member.get("/api/v1/announcements/").status_code == 200
    assert api_anon.get("/api/v1/questions/").status_code == 401
    assert Answer.objects.count() == 1
