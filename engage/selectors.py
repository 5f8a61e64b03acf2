"""Reads of the engagement app that are more than a lookup; each list is a constant number of queries."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from community.models import FollowUpTask
from engage.models import (
    Announcement,
    Answer,
    Article,
    Event,
    EventRegistration,
    KnowledgeCategory,
    Question,
    Topic,
    TopicReply,
)
from engage.services import onboarding
from members.models import Member

SEATED = Q(registrations__status=EventRegistration.Status.REGISTERED)
WAITING = Q(registrations__status=EventRegistration.Status.WAITLISTED)


def _with_counts(events: QuerySet[Event]) -> QuerySet[Event]:
    return events.select_related("min_level").annotate(
        seats_taken=Count("registrations", filter=SEATED), waitlist_length=Count("registrations", filter=WAITING)
    )


def event_list_for_member(*, member: Member | None, upcoming_only: bool = False) -> QuerySet[Event]:
    """Published events with seat counts; `my_registrations` prefetched for the member."""
    events = _with_counts(Event.objects.filter(status__in=[Event.Status.PUBLISHED, Event.Status.CANCELLED]))
    if upcoming_only:
        events = events.filter(ends_at__gte=timezone.now())
    if member is not None:
        events = events.prefetch_related(
            Prefetch("registrations", queryset=EventRegistration.objects.filter(member=member), to_attr="mine")
        )
    return events.order_by("starts_at", "id")


def event_list_all() -> QuerySet[Event]:
    return _with_counts(Event.objects.all()).order_by("-starts_at", "-id")


def my_registration(event: Event) -> EventRegistration | None:
    mine = getattr(event, "mine", None)
    return mine[0] if mine else None


def event_registrations(*, event: Event) -> QuerySet[EventRegistration]:
    return EventRegistration.objects.filter(event=event).select_related("member").order_by("status", "queued_at", "id")


def registrations_for_member(*, member: Member) -> QuerySet[EventRegistration]:
    return (
        EventRegistration.objects.filter(member=member)
        .exclude(status=EventRegistration.Status.CANCELLED)
        .select_related("event")
        .order_by("event__starts_at")
    )


def announcement_list() -> QuerySet[Announcement]:
    return Announcement.objects.filter(is_published=True, published_at__lte=timezone.now())


def topic_list() -> QuerySet[Topic]:
    return Topic.objects.filter(is_published=True).annotate(
        reply_count=Count("replies", filter=Q(replies__hidden_at__isnull=True))
    )


def topic_replies(*, topic: Topic) -> QuerySet[TopicReply]:
    return topic.replies.filter(hidden_at__isnull=True).select_related("member")


def question_list(*, unanswered: bool = False) -> QuerySet[Question]:
    questions = Question.objects.filter(hidden_at__isnull=True).select_related("member")
    if unanswered:
        questions = questions.filter(answered_at__isnull=True)
    return questions.annotate(answer_count=Count("answers", filter=Q(answers__hidden_at__isnull=True)))


def question_answers(*, question: Question) -> QuerySet[Answer]:
    return question.answers.filter(hidden_at__isnull=True).select_related("member")


def knowledge_categories() -> QuerySet[KnowledgeCategory]:
    return KnowledgeCategory.objects.annotate(
        article_count=Count("articles", filter=Q(articles__is_published=True))
    ).order_by("sort_order", "name")


def article_search(
    *, query: str = "", category: KnowledgeCategory | None = None, faq: bool = False
) -> QuerySet[Article]:
    """Published articles matching every word of `query` in the title or the body."""
    articles = Article.objects.filter(is_published=True).select_related("category")
    if category is not None:
        articles = articles.filter(category=category)
    if faq:
        articles = articles.filter(is_faq=True)
    for word in query.split()[:8]:
        articles = articles.filter(Q(title__icontains=word) | Q(body__icontains=word))
    return articles.order_by("category__sort_order", "title", "id")


def inbox_tasks(*, now: datetime | None = None, status: str = "due", assignee=None) -> QuerySet[FollowUpTask]:
    """The operator inbox: `due` = open tasks and snoozed ones whose snooze is over; or `open`, `snoozed`, `done`."""
    now = now or timezone.now()
    tasks = FollowUpTask.objects.select_related("member", "assignee")
    if status == "due":
        tasks = tasks.filter(
            Q(status=FollowUpTask.Status.OPEN) | Q(status=FollowUpTask.Status.SNOOZED, snoozed_until__lte=now)
        )
    elif status in FollowUpTask.Status.values:
        tasks = tasks.filter(status=status)
    if assignee is not None:
        tasks = tasks.filter(assignee=assignee)
    return tasks.order_by("-created_at", "-id")


def onboarding_checklist(*, member: Member) -> list[dict]:
    from django.utils.translation import gettext as _

    done = onboarding.steps_recorded(member_ids=[member.pk])[member.pk]
    labels = {
        onboarding.PROFILE: (_("Complete your profile"), "/settings/profile/"),
        onboarding.CHECK_IN: (_("Check in for the first time"), "/rewards/points/"),
        onboarding.FEEDBACK: (_("Share your first feedback"), _url("feedback:list", "/")),
        onboarding.EVENT: (_("Join an event"), "/events/"),
    }
    return [
        {"step": step, "label": labels[step][0], "url": labels[step][1], "done": step in done}
        for step in onboarding.STEPS
    ]


def _url(name: str, fallback: str) -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name)
    except NoReverseMatch:
        return fallback


def member_has_registration(member: Member):
    return Exists(EventRegistration.objects.filter(member=member, event=OuterRef("pk")))
