"""The activity stream's write paths: every capability records through them, so they are the hottest writes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from bench.harness import Benchmark, Context, Figure, Stopwatch, demo_members
from community.models import Activity
from community.services import ActivityInput, activities_record_bulk, record_activity
from members.models import Member

SINGLE_CALLS = 10_000
BULK_ENTRIES = 20_000
DEDUPE_KEYS = 5_000
WARM_UP_CALLS = 200  # first queries pay for connection set-up and caches; not what is measured
VERBS = ("checked_in", "feedback_submitted", "question_answered", "event_attended", "survey_answered")


@dataclass(frozen=True)
class _Call:
    member: Member
    verb: str
    occurred_at: datetime
    data: dict[str, Any]


def _calls(context: Context, *, name: str, count: int) -> list[_Call]:
    """`count` seeded activity inputs over the last 30 days, built before any timing starts."""
    rng: random.Random = context.rng(name)
    members = demo_members(context)
    now = timezone.now()
    calls = []
    for _ in range(count):
        verb = rng.choice(VERBS)
        data = {"category": rng.choice(("idea", "bug", "praise"))} if verb == "feedback_submitted" else {}
        moment = now - timedelta(seconds=rng.randrange(30 * 86_400))
        calls.append(_Call(member=rng.choice(members), verb=verb, occurred_at=moment, data=data))
    return calls


def _warm_up(context: Context) -> None:
    for call in _calls(context, name="warm-up", count=WARM_UP_CALLS):
        record_activity(member=call.member, verb=call.verb, occurred_at=call.occurred_at, data=call.data)


def record_single(context: Context) -> Iterator[Figure]:
    """One `record_activity` per member action, each in its own transaction, as a request would."""
    calls = _calls(context, name="record_single", count=context.size(SINGLE_CALLS))
    _warm_up(context)
    with Stopwatch() as watch:
        for call in calls:
            with watch.lap():
                record_activity(member=call.member, verb=call.verb, occurred_at=call.occurred_at, data=call.data)
    yield Figure("activity.record_single", watch.rate(len(calls)), "ops/s")
    yield Figure("activity.record_single.p50", watch.percentile_ms(50), "ms")
    yield Figure("activity.record_single.p99", watch.percentile_ms(99), "ms")


def record_bulk(context: Context) -> Iterator[Figure]:
    """`activities_record_bulk` with one large import (an event's attendees, a back-fill)."""
    entries = [
        ActivityInput(member=call.member, verb=call.verb, occurred_at=call.occurred_at, data=call.data)
        for call in _calls(context, name="record_bulk", count=context.size(BULK_ENTRIES))
    ]
    _warm_up(context)
    with Stopwatch() as watch:
        recorded = activities_record_bulk(entries=entries)
    yield Figure("activity.record_bulk", watch.rate(recorded), "entries/s")


def record_dedupe(context: Context) -> Iterator[Figure]:
    """`record_activity` with an idempotency key: first delivery, then every key re-sent (a retried batch)."""
    calls = _calls(context, name="record_dedupe", count=context.size(DEDUPE_KEYS))
    keys = [f"bench-{context.seed}-{index}" for index in range(len(calls))]
    _warm_up(context)
    for label in ("new", "replay"):
        with Stopwatch() as watch:
            for call, key in zip(calls, keys, strict=True):
                record_activity(
                    member=call.member, verb=call.verb, occurred_at=call.occurred_at, data=call.data, dedupe_key=key
                )
        yield Figure(f"activity.record_dedupe_{label}", watch.rate(len(calls)), "ops/s")
    recorded = Activity.objects.filter(dedupe_key__startswith=f"bench-{context.seed}-").count()
    if recorded != len(keys):  # a replay that added rows would make the figure meaningless
        raise RuntimeError(f"{recorded} activities for {len(keys)} keys: deduplication is broken.")


BENCHMARKS = (
    Benchmark("activity.record_single", record_single),
    Benchmark("activity.record_bulk", record_bulk),
    Benchmark("activity.record_dedupe", record_dedupe),
)
