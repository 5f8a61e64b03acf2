"""Factories for recruitment: rounds, questions with choices and ranges, applications with answers and usage."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from members.models import Application, Choice, NumberRange, Question, Round, UsageMetric
from tests.factories import MemberFactory


class RoundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Round

    name = factory.Sequence(lambda n: f"Seed users {n}")
    slug = factory.Sequence(lambda n: f"seed-{n}")
    description = "Help shape the product."
    opens_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    capacity = 10


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    round = factory.SubFactory(RoundFactory)
    kind = Question.Kind.SINGLE
    text = factory.Sequence(lambda n: f"Question {n}?")
    position = factory.Sequence(lambda n: n)
    required = True


class ChoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Choice

    question = factory.SubFactory(QuestionFactory)
    label = factory.Sequence(lambda n: f"Option {n}")
    points = Decimal(0)


class NumberRangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NumberRange

    question = factory.SubFactory(QuestionFactory, kind=Question.Kind.NUMBER)
    points = Decimal(0)


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    round = factory.SubFactory(RoundFactory)
    member = factory.SubFactory(MemberFactory)


class UsageMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageMetric

    application = factory.SubFactory(ApplicationFactory)
    active_days_30 = 10


def standard_round(**kwargs) -> tuple[Round, dict[str, object]]:
    """A round with a single choice (points, a knock-out, segments), a multiple choice, a number with ranges,
    a 1-5 scale and a long text; returns the round and its pieces by name."""
    round = RoundFactory(**kwargs)
    role = QuestionFactory(round=round, kind=Question.Kind.SINGLE, text="What do you do?", position=1)
    dev = ChoiceFactory(question=role, label="Developer", points=Decimal(10), segment="developers")
    student = ChoiceFactory(question=role, label="Student", points=Decimal(5), segment="students")
    competitor = ChoiceFactory(question=role, label="I work for a competitor", knockout=True)
    uses = QuestionFactory(
        round=round, kind=Question.Kind.MULTIPLE, text="What do you use?", position=2, required=False
    )
    web = ChoiceFactory(question=uses, label="Web", points=Decimal(2))
    mobile = ChoiceFactory(question=uses, label="Mobile", points=Decimal(3))
    hours = QuestionFactory(round=round, kind=Question.Kind.NUMBER, text="Hours a week?", position=3, weight=Decimal(2))
    NumberRangeFactory(question=hours, minimum=None, maximum=Decimal(1), points=Decimal(0), knockout=True)
    NumberRangeFactory(question=hours, minimum=Decimal(1), maximum=Decimal(10), points=Decimal(3))
    NumberRangeFactory(question=hours, minimum=Decimal(10), maximum=None, points=Decimal(5))
    keen = QuestionFactory(
        round=round,
        kind=Question.Kind.SCALE,
        text="How keen are you?",
        position=4,
        scale_max=5,
        points_if_answered=Decimal(1),
    )
    why = QuestionFactory(
        round=round,
        kind=Question.Kind.LONG_TEXT,
        text="Why?",
        position=5,
        required=False,
        points_if_answered=Decimal(4),
    )
    pieces = {
        "role": role,
        "dev": dev,
        "student": student,
        "competitor": competitor,
        "uses": uses,
        "web": web,
        "mobile": mobile,
        "hours": hours,
        "keen": keen,
        "why": why,
    }
    return round, pieces


def good_answers(p: dict[str, object]) -> dict[int, object]:
    """Developer (10), web+mobile (5), 12 hours (5 x2 = 10), keen 4 (4), a reason (4): 33 points."""
    return {
        p["role"].pk: p["dev"].pk,
        p["uses"].pk: [p["web"].pk, p["mobile"].pk],
        p["hours"].pk: 12,
        p["keen"].pk: 4,
        p["why"].pk: "I use it every day.",
    }


def form_data(p: dict[str, object], answers: dict[int, object]) -> dict[str, object]:
    return {f"q_{pk}": value for pk, value in answers.items()}
