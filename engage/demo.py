"""Demo data for the engagement app: events (past, upcoming, a lottery), content, a message, a quiet-member run."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_noop

from engage.models import Event, KnowledgeCategory
from engage.services import content, events, retention
from engage.services import messages as message_services
from members.models import Member

TOPICS = (
    ("What should the next release focus on?", "Tell us which **three** things would make your week easier."),
    ("Show us your setup", "Share a screenshot or describe how you use the product day to day."),
)
REPLIES = (
    "Offline mode, please!",
    "Faster search would help me the most.",
    "I'd love **keyboard shortcuts** for everything.",
    "Better export to spreadsheets.",
)
QUESTIONS = (
    ("How do I invite a teammate?", "Is there a limit on seats?"),
    ("Can I change my display name?", ""),
    ("Where do I see my points history?", ""),
)
ANSWERS = ("Under Settings → Team you can invite by e-mail.", "Yes, in your profile.", "The Points page lists it all.")
KB = {
    ("Getting started", "getting-started"): (
        ("How check-in works", "Check in once a day from the Points page to keep your streak.", True),
        ("Your first event", "Open **Events**, pick one and press Register. Show your code at the door.", True),
    ),
    ("Account", "account"): (("Changing your language", "Use the language switcher at the top of every page.", True),),
    ("Rewards", "rewards"): (("Levels and badges", "Points raise your level; badges mark what you have done.", False),),
}


# Onboarding is "rewarded by rule": the demo adds the two rules an operator would (names shown translated).
ONBOARDING_RULES = (
    ("onboarding_step_completed", gettext_noop("Onboarding step"), 5),
    ("onboarding_completed", gettext_noop("Onboarding completed"), 20),
)


def _onboarding_rules() -> None:
    from rewards.models import PointRule
    from rewards.services.rules import point_rule_create

    for verb, name, points in ONBOARDING_RULES:
        if not PointRule.objects.filter(verb=verb).exists():
            point_rule_create(actor=None, name=name, verb=verb, points=points)


def seed(*, rng: random.Random, members: list[Member]) -> str:
    now = timezone.now()
    active = [m for m in members if m.status == Member.Status.ACTIVE]
    if len(active) < 2:
        return "engage: too few members for demo events"
    rng.shuffle(active)

    # A meetup that happened last week: members registered, most came and were checked in (points by rule).
    past = events.event_create(
        actor=None,
        title="Community meetup: roadmap preview",
        kind=Event.Kind.MEETUP,
        description="An evening with the product team.",
        location="Shanghai office, 5F",
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
        capacity=30,
        status=Event.Status.PUBLISHED,
    )
    registrations = [events.event_register(member=m, event=past) for m in active[:25]]
    Event.objects.filter(pk=past.pk).update(
        starts_at=now - timedelta(days=6), ends_at=now - timedelta(days=6, hours=-2)
    )
    attended = 0
    for registration in registrations:
        if rng.random() < 0.8:
            events.event_check_in(event=past, code=registration.check_in_code, actor=None)
            attended += 1

    # An upcoming small meetup, already full with a waitlist; a live session; a lottery.
    upcoming = events.event_create(
        actor=None,
        title="Beta build walkthrough",
        kind=Event.Kind.MEETUP,
        description="Hands-on with the next beta. **Small group**: 12 seats.",
        location="Beijing office",
        starts_at=now + timedelta(days=5, hours=2),
        ends_at=now + timedelta(days=5, hours=4),
        capacity=12,
        status=Event.Status.PUBLISHED,
    )
    for member in active[:16]:
        events.event_register(member=member, event=upcoming)
    live = events.event_create(
        actor=None,
        title="Ask the product team (live)",
        kind=Event.Kind.LIVE,
        description="Questions welcome in advance.",
        online_url="https://meet.example.com/hearth-live",
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=1),
        status=Event.Status.PUBLISHED,
    )
    for member in active[10:30]:
        events.event_register(member=member, event=live)
    lottery = events.event_create(
        actor=None,
        title="Launch-week lottery",
        kind=Event.Kind.LOTTERY,
        description="Three limited-edition hoodies.",
        starts_at=now + timedelta(days=9),
        ends_at=now + timedelta(days=9, hours=1),
        winners_count=3,
        status=Event.Status.PUBLISHED,
    )
    for member in active[:40]:
        events.event_register(member=member, event=lottery)

    content.announcement_create(
        actor=None,
        title="Welcome to the new community space",
        body="Events, discussions and answers in one place.",
        pinned=True,
    )
    for title, body in TOPICS:
        topic = content.topic_create(actor=None, title=title, body=body)
        for member in rng.sample(active, k=min(4, len(active))):
            content.topic_reply_create(member=member, topic=topic, body=rng.choice(REPLIES))
    for (name, slug), articles in KB.items():
        if KnowledgeCategory.objects.filter(slug=slug).exists():  # seeded before: the knowledge base stays as it is
            continue
        category = content.category_create(actor=None, name=name, slug=slug)
        for title, body, faq in articles:
            content.article_create(actor=None, category=category, title=title, body=body, is_faq=faq)
    answered = 0
    for index, (title, body) in enumerate(QUESTIONS):
        asker, answerer = active[index % len(active)], active[(index + len(active) // 2) % len(active)]
        question = content.question_ask(member=asker, title=title, body=body)
        if index < 2:
            content.question_answer(member=answerer, question=question, body=ANSWERS[index])
            answered += 1

    message_services.message_create(
        actor=None, subject="Thank you for a great meetup", body="Slides are on the knowledge base.", segment="loyal"
    )
    _onboarding_rules()
    retention.run_daily(job="onboarding")
    quiet = retention.run_daily(job="quiet_members").run.summary.get("new_tasks", 0)
    return (
        f"engage: 4 events ({attended} attended last week's meetup), {len(TOPICS)} topics, "
        f"{len(QUESTIONS)} questions ({answered} answered), {quiet} quiet members in the operator inbox"
    )
