"""Demo feedback: product areas, items from the demo members (some with votes, replies and status changes, one
merged duplicate), and a closed NPS survey with responses. Everything goes through the services, so the activity
stream, points and notifications look as they would have."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from community.errors import ServiceError
from feedback import services
from feedback.models import FeedbackItem, FeedbackStatus, ProductArea, Survey, SurveyQuestion
from members.models import Member

AREAS = ("Mobile app", "Web dashboard", "Sync & backup", "Billing", "Integrations")
ITEMS = (
    ("bug", "Export to CSV stops at 1,000 rows", "Exporting a large report gives only the first 1,000 rows."),
    ("bug", "Dark mode text unreadable on the settings page", "Grey on grey in **Settings → Privacy**."),
    ("idea", "Let me schedule reports weekly", "A weekly e-mail with my dashboard would save me a login."),
    ("idea", "Keyboard shortcuts for the editor", "`Ctrl+K` for links, `Ctrl+B` for bold, like elsewhere."),
    ("question", "How do I move my data to a new phone?", "I changed phones; will my history come along?"),
    ("complaint", "Sync is slow on weekends", "Takes minutes to sync on Saturdays."),
    ("praise", "The new onboarding is lovely", "My parents set it up on their own. Thank you!"),
    ("idea", "Shared folders with family", "- one folder\n- several people\n- everyone edits"),
    ("bug", "App crashes when rotating during upload", "Android 14, Pixel 7: rotate while uploading → crash."),
    ("question", "Is there an API for invoices?", "Our accountant would like to pull invoices automatically."),
    ("idea", "Widgets for the home screen", "A small widget showing today's summary."),
    ("complaint", "Too many notification e-mails", "I get three e-mails for one change."),
)
NPS_SCORES = (10, 10, 9, 9, 9, 8, 8, 7, 6, 5, 3)


def seed(*, rng: random.Random, members: list[Member]) -> str:
    active = [member for member in members if member.status == Member.Status.ACTIVE]
    if len(active) < 3:
        return "feedback: skipped (needs at least 3 active members)"
    areas = [ProductArea.objects.get_or_create(name=name)[0] for name in AREAS]
    statuses = {status.key: status for status in FeedbackStatus.objects.all()}
    items: list[FeedbackItem] = []
    for index, (kind, title, body) in enumerate(ITEMS * 3):
        author = rng.choice(active)
        suffix = "" if index < len(ITEMS) else f" ({index // len(ITEMS) + 1})"
        try:
            item = services.item_submit(
                author=author,
                kind=kind,
                title=f"{title}{suffix}",
                body=body,
                area=rng.choice(areas),
                visibility="private" if rng.random() < 0.1 else "public",
                app_version=f"5.{rng.randint(0, 4)}.{rng.randint(0, 9)}",
                device=rng.choice(("iPhone 15", "Pixel 8", "Windows 11 / Edge", "macOS / Safari")),
            )
        except ServiceError:
            continue
        # Spread them over the last two months, as they would have arrived.
        created = timezone.now() - timedelta(days=rng.uniform(1, 60))
        FeedbackItem.objects.filter(pk=item.pk).update(created_at=created, updated_at=created)
        items.append(item)
    votes = 0
    for item in items:
        if item.visibility != "public":
            continue
        for voter in rng.sample(active, k=min(len(active), rng.randint(0, 25))):
            try:
                votes += services.vote_add(item=item, member=voter)
            except ServiceError:
                continue
    replies = 0
    flow = ["acknowledged", "planned", "in_progress", "done", "declined"]
    for item in rng.sample(items, k=len(items) // 2):
        services.reply_post(
            item=item,
            author=None,
            body=rng.choice(
                (
                    "Thanks — we are looking into it.",
                    "Good catch, the team has reproduced it.",
                    "Noted for the roadmap review.",
                )
            ),
        )
        replies += 1
        for key in flow[: rng.randint(1, 4)]:
            if key in statuses:
                services.item_status_change(item=item, actor=None, status=statuses[key])
    merged = 0
    originals = [item for item in items if item.visibility == "public"]
    if len(originals) > len(ITEMS):
        services.item_merge(duplicate=originals[len(ITEMS)], original=originals[0], actor=None)
        merged = 1
    responses = _nps_survey(rng, active)
    return (
        f"feedback: {len(items)} items, {votes} votes, {replies} replies, {merged} merged duplicate, "
        f"closed NPS survey with {responses} responses"
    )


def _nps_survey(rng: random.Random, members: list[Member]) -> int:
    now = timezone.now()
    survey = Survey.objects.create(
        title="How likely are you to recommend us?",
        description="Our quarterly pulse. It takes a minute.",
        opens_at=now - timedelta(days=30),
        is_published=True,
    )
    nps = SurveyQuestion.objects.create(
        survey=survey, kind="nps", prompt="How likely are you to recommend us to a friend?", order=1
    )
    csat = SurveyQuestion.objects.create(survey=survey, kind="csat", prompt="How satisfied are you overall?", order=2)
    why = SurveyQuestion.objects.create(
        survey=survey, kind="text", prompt="What is the main reason?", required=False, order=3
    )
    answered = 0
    for member in rng.sample(members, k=min(len(members), 40)):
        score = rng.choice(NPS_SCORES)
        try:
            services.survey_respond(
                survey=survey,
                member=member,
                answers={nps.pk: score, csat.pk: max(1, min(5, score // 2)), why.pk: rng.choice(("", "Fast", "Price"))},
            )
            answered += 1
        except ServiceError:
            continue
    Survey.objects.filter(pk=survey.pk).update(closes_at=now - timedelta(days=2))
    return answered
