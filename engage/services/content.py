"""Content: announcements, operator topics with member replies, the knowledge base, questions and answers.

Member-written text is Markdown, rendered through `community.markdown.render_markdown` when shown. Muted
members are refused (moderation lives in `feedback`); replies and answers can be reported there.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import audit_record, model_snapshot, notify, record_activity
from engage.models import Announcement, Answer, Article, KnowledgeCategory, Question, Topic, TopicReply
from members.models import Member

BODY_MAX = 10_000


def _is_muted(member: Member) -> bool:
    try:
        from feedback.selectors import member_is_muted
    except ImportError:  # moderation not installed: nobody is muted
        return False
    return bool(member_is_muted(member=member))


def _check_author(member: Member) -> None:
    if member.status != Member.Status.ACTIVE:
        raise ServiceError(_("Only active members can post."), field="body")
    if _is_muted(member):
        raise ServiceError(_("You are muted for now and cannot post."), field="body")


def _clean_body(body: str, *, required: bool = True) -> str:
    body = (body or "").strip()
    if required and not body:
        raise ServiceError(_("Write something first."), field="body")
    if len(body) > BODY_MAX:
        raise ServiceError(_("Keep it to 10,000 characters."), field="body")
    return body


def announcement_create(
    *, actor: Any, title: str, body: str, pinned: bool = False, publish: bool = True
) -> Announcement:
    if not title.strip():
        raise ServiceError(_("An announcement needs a title."), field="title")
    with transaction.atomic():
        announcement = Announcement.objects.create(
            title=title.strip()[:200], body=_clean_body(body), pinned=pinned, is_published=publish, created_by=actor
        )
        audit_record(actor=actor, action="announcement.create", obj=announcement, after=model_snapshot(announcement))
    return announcement


def topic_create(*, actor: Any, title: str, body: str) -> Topic:
    """Start a discussion (话题引导) for members to reply to."""
    if not title.strip():
        raise ServiceError(_("A topic needs a title."), field="title")
    with transaction.atomic():
        topic = Topic.objects.create(title=title.strip()[:200], body=_clean_body(body), created_by=actor)
        audit_record(actor=actor, action="topic.create", obj=topic, after=model_snapshot(topic))
    return topic


def topic_reply_create(*, member: Member, topic: Topic, body: str) -> TopicReply:
    _check_author(member)
    body = _clean_body(body)
    with transaction.atomic():
        topic = Topic.objects.select_for_update().get(pk=topic.pk)
        if not (topic.is_open and topic.is_published):
            raise ServiceError(_("This topic is closed for replies."), field="body")
        reply = TopicReply.objects.create(topic=topic, member=member, body=body)
        audit_record(actor=member.user, action="topic.reply", obj=reply, after=model_snapshot(reply))
        record_activity(member=member, verb="topic_replied", target=topic)
    return reply


def category_create(*, actor: Any, name: str, slug: str, sort_order: int = 0) -> KnowledgeCategory:
    with transaction.atomic():
        category = KnowledgeCategory.objects.create(name=name, slug=slug, sort_order=sort_order)
        audit_record(actor=actor, action="kb_category.create", obj=category, after=model_snapshot(category))
    return category


def article_create(*, actor: Any, category: KnowledgeCategory, title: str, body: str, is_faq: bool = False) -> Article:
    if not title.strip():
        raise ServiceError(_("An article needs a title."), field="title")
    with transaction.atomic():
        article = Article.objects.create(
            category=category, title=title.strip()[:200], body=_clean_body(body), is_faq=is_faq
        )
        audit_record(actor=actor, action="article.create", obj=article, after=model_snapshot(article))
    return article


def question_ask(*, member: Member, title: str, body: str = "") -> Question:
    _check_author(member)
    title = (title or "").strip()
    if not title:
        raise ServiceError(_("Ask your question in the title."), field="title")
    if len(title) > 200:
        raise ServiceError(_("Keep the title to 200 characters."), field="title")
    with transaction.atomic():
        question = Question.objects.create(member=member, title=title, body=_clean_body(body, required=False))
        audit_record(actor=member.user, action="question.ask", obj=question, after=model_snapshot(question))
        record_activity(member=member, verb="question_asked", target=question)
    return question


def question_answer(*, member: Member, question: Question, body: str) -> Answer:
    """Answer someone's question: recorded as `question_answered` (rewardable), the asker is told."""
    _check_author(member)
    body = _clean_body(body)
    with transaction.atomic():
        question = Question.objects.select_for_update().select_related("member").get(pk=question.pk)
        if question.hidden_at is not None:
            raise ServiceError(_("This question was removed."), field="body")
        if question.member_id == member.pk:
            raise ServiceError(_("You cannot answer your own question; add to it instead."), field="body")
        answer = Answer.objects.create(question=question, member=member, body=body)
        if question.answered_at is None:
            question.answered_at = answer.created_at
            question.save(update_fields=["answered_at"])
        audit_record(actor=member.user, action="question.answer", obj=answer, after=model_snapshot(answer))
        record_activity(
            member=member,
            verb="question_answered",
            target=question,
            dedupe_key=f"question_answered:{question.pk}:{member.pk}",  # points once per question
        )
        notify(
            member=question.member,
            kind="question_answered",
            context={"title": question.title, "author": member.display_name},
            url=f"/content/questions/{question.pk}/",
        )
    return answer


def content_report(*, reporter: Member, target: TopicReply | Answer | Question, reason: str, note: str = "") -> Any:
    """Report a reply, answer or question to the moderators (the moderation queue lives in feedback)."""
    try:
        from feedback.services import report_file
    except ImportError:
        raise ServiceError(_("Reporting is not available right now."), field="reason") from None
    return report_file(reporter=reporter, target=target, reason=reason, note=note)


def content_hide(*, actor: Any, target: TopicReply | Answer | Question) -> None:
    """Hide a reply, answer or question (operators, after a report)."""
    with transaction.atomic():
        before = model_snapshot(target)
        type(target).objects.filter(pk=target.pk, hidden_at__isnull=True).update(hidden_at=timezone.now())
        target.refresh_from_db()
        audit_record(
            actor=actor,
            action=f"{target._meta.model_name}.hide",
            obj=target,
            before=before,
            after=model_snapshot(target),
        )
