"""Screening at scale: scoring a round of 10,000 applications x 10 questions with usage data (target under 10 s,
bulk queries only), and the admin review queue over them (its query count must not grow with the queue)."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.harness import Benchmark, Context, Figure
from members import demo as members_demo
from members.models import Answer, Application, Choice, NumberRange, Question, Round, UsageMetric

APPLICATIONS = 10_000
SMALL_QUEUE = 20


def _questions(round: Round) -> list[Question]:
    kinds = ["single", "single", "multiple", "number", "number", "scale", "scale", "short_text", "long_text", "single"]
    questions = []
    for position, kind in enumerate(kinds, start=1):
        question = Question.objects.create(
            round=round,
            kind=kind,
            text=f"Question {position}",
            position=position,
            required=kind != "long_text",
            weight=Decimal(1 + position % 3),
            scale_max=10 if kind == "scale" else 5,
            points_if_answered=Decimal(1),
        )
        if kind in ("single", "multiple"):
            Choice.objects.bulk_create(
                Choice(question=question, position=i, label=f"Option {i}", points=Decimal(i * 2), knockout=i == 4)
                for i in range(5)
            )
        if kind == "number":
            NumberRange.objects.bulk_create(
                [
                    NumberRange(question=question, maximum=Decimal(1), points=Decimal(0)),
                    NumberRange(question=question, minimum=Decimal(1), maximum=Decimal(10), points=Decimal(3)),
                    NumberRange(question=question, minimum=Decimal(10), points=Decimal(6)),
                ]
            )
        questions.append(question)
    return list(Question.objects.filter(round=round).prefetch_related("choices").order_by("position"))


def _answer(rng: random.Random, application: Application, question: Question) -> Answer:
    choice_ids = [c.pk for c in question.choices.all()]
    answer = Answer(application=application, question=question)
    if question.kind == "single":
        answer.choice_ids = [rng.choice(choice_ids[:4] if rng.random() < 0.98 else choice_ids)]
    elif question.kind == "multiple":
        answer.choice_ids = sorted(rng.sample(choice_ids[:4], rng.randint(0, 3)))
    elif question.kind == "number":
        answer.number = Decimal(rng.randint(0, 30))
    elif question.kind == "scale":
        answer.number = Decimal(rng.randint(1, question.scale_max))
    else:
        answer.text = "Because I use it every day." if rng.random() < 0.7 else ""
    return answer


@functools.cache
def _round(context: Context, count: int) -> int:
    """A round with 10 questions and `count` applications, each with 10 answers and usage data."""
    rng = context.rng(f"members_screening:{count}")
    now = timezone.now()
    round = Round.objects.create(
        name=f"Bench round {count}",
        slug=f"bench-{count}-{context.seed}-{int(time.time())}",
        opens_at=now - timedelta(days=5),
        closes_at=now + timedelta(days=5),
        capacity=100,
    )
    questions = _questions(round)
    seeded = members_demo.members_seed(count=count, seed=context.seed + count, now=now, join_days=120)
    applications = Application.objects.bulk_create(
        [Application(round=round, member=d.member, submitted_at=now) for d in seeded], batch_size=2000
    )
    Answer.objects.bulk_create(
        (_answer(rng, application, question) for application in applications for question in questions),
        batch_size=5000,
    )
    UsageMetric.objects.bulk_create(
        (
            UsageMetric(
                application=application,
                active_days_30=rng.randint(0, 30),
                session_minutes=Decimal(rng.randint(1, 90)),
                tenure_days=rng.randint(0, 900),
                paid=rng.random() < 0.3,
                willing_to_pay=rng.random() < 0.4,
                content_created=rng.randint(0, 50),
            )
            for application in applications
            if rng.random() < 0.9
        ),
        batch_size=5000,
    )
    return round.pk


def score_round(context: Context) -> Iterator[Figure]:
    from members.services.scoring import round_score

    count = context.size(APPLICATIONS)
    round_id = _round(context, count)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        scored = round_score(round_id=round_id)
        elapsed = time.perf_counter() - started
    assert scored == count, (scored, count)
    yield Figure("members.score_round_10k_seconds", elapsed, "s")
    yield Figure("members.score_round_queries", len(queries), "queries")
    rescore_started = time.perf_counter()
    round_score(round_id=round_id)  # again, now every scorecard is an update
    yield Figure("members.rescore_round_10k_seconds", time.perf_counter() - rescore_started, "s")


def review_queue(context: Context) -> Iterator[Figure]:
    from django.test import Client

    from community import roles
    from members.models import User
    from members.services.scoring import round_score

    large = _round(context, context.size(APPLICATIONS))
    small = _round(context, SMALL_QUEUE)
    for round_id in (large, small):
        if not Application.objects.filter(round_id=round_id, scorecard__isnull=False).exists():
            round_score(round_id=round_id)
    roles.roles_sync()
    operator, _created = User.objects.get_or_create(
        email=f"bench-operator-{context.seed}@example.com", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(operator)
    url = "/admin/members/application/"
    counts = {}
    for name, round_id in (("large", large), ("small", small)):
        client.get(url, {"round__id__exact": round_id})  # warm-up
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url, {"round__id__exact": round_id})
            elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.status_code
        counts[name] = len(queries)
        if name == "large":
            yield Figure("members.review_queue_10k_ms", elapsed * 1000, "ms")
    yield Figure("members.review_queue_10k_queries", counts["large"], "queries")
    yield Figure("members.review_queue_query_growth", counts["large"] - counts["small"], "queries")


BENCHMARKS = (
    Benchmark("members_screening.score_round", score_round),
    Benchmark("members_screening.review_queue", review_queue),
)
