"""Factories for the points tests: rules, levels, streak bonuses, and moments in a member's own time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import factory

from rewards.models import Level, PointRule, StreakBonus


class PointRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PointRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    verb = "question_answered"
    points = 5


class LevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Level

    name = factory.Sequence(lambda n: f"Level {n}")
    threshold = factory.Sequence(lambda n: (n + 1) * 100)


class StreakBonusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StreakBonus

    name = factory.Sequence(lambda n: f"Streak bonus {n}")
    days = 7
    points = 5


def local_moment(member, year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment on a given day in the member's own time zone."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(member.time_zone))
