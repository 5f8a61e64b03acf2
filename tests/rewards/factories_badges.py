"""Factories and helpers for the badge and leaderboard tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import factory
import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from community.services import record_activity
from members.models import Member
from rewards.models import Badge
from rewards.selectors.leaderboards import key_prefix, redis_client
from rewards.services.ledger import BulkAward, points_award, points_award_bulk

SHANGHAI = ZoneInfo("Asia/Shanghai")


class BadgeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Badge

    slug = factory.Sequence(lambda n: f"badge-{n}")
    name = factory.Sequence(lambda n: f"Badge {n}")
    description = "A badge for **testing**."
    tier = "bronze"
    criteria = factory.LazyFunction(lambda: {"type": "manual"})


def local(day: date, hour: int = 12, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone)


_keys = iter(range(10**9))


def award(member: Member, amount: int, *, at: datetime | None = None, key: str | None = None) -> None:
    """Award points through the ledger, as of `at` (the bulk path stamps entries with the current time, so the
    clock is moved there for the call)."""
    key = key or f"test-award-{next(_keys)}"
    if at is None:
        points_award(member=member, amount=amount, reason="test", idempotency_key=key)
        return
    with mock.patch("django.utils.timezone.now", return_value=at):
        points_award_bulk(awards=[BulkAward(member_id=member.pk, amount=amount, idempotency_key=key, reason="test")])


def check_in_days(member: Member, first: date, days: int, *, hour: int = 9) -> list:
    """Record `days` consecutive check-in activities starting on `first` (in the member's time zone)."""
    zone = ZoneInfo(member.time_zone)
    return [
        record_activity(member=member, verb="checked_in", occurred_at=local(first + timedelta(days=offset), hour, zone))
        for offset in range(days)
    ]


def clean_leaderboard_keys() -> None:
    client = redis_client()
    if client is None:
        return
    keys = list(client.scan_iter(match=f"{key_prefix()}:*", count=1000))
    if keys:
        client.delete(*keys)


needs_redis = pytest.mark.skipif(not getattr(settings, "REDIS_URL", None), reason="needs REDIS_URL")


@pytest.fixture
def redis_boards(db):
    """Live boards in Redis, rebuilt (so marked ready) from the empty ledger; every key removed afterwards."""
    if not getattr(settings, "REDIS_URL", None):
        pytest.skip("needs REDIS_URL")
    from rewards.services.leaderboards import leaderboard_rebuild

    clean_leaderboard_keys()
    leaderboard_rebuild()
    yield redis_client()
    clean_leaderboard_keys()


@pytest.fixture
def sql_boards(db):
    """No Redis: boards are read from the ledger."""
    with override_settings(REDIS_URL=None):
        yield None


@pytest.fixture(params=["redis", "sql"])
def boards(request, db):
    """Each test runs once with Redis boards (skipped without REDIS_URL) and once reading the ledger."""
    if request.param == "redis":
        yield request.getfixturevalue("redis_boards")
    else:
        yield request.getfixturevalue("sql_boards")


@contextmanager
def committed(capture) -> Iterator[None]:
    """Run the code and then its on-commit callbacks, as a real commit would (tests run inside a transaction)."""
    with capture(execute=True):
        yield


def now_shanghai() -> datetime:
    return timezone.now().astimezone(SHANGHAI)
