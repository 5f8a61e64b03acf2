"""Point awards: through the service layer (an activity recorded, the rules hook, the ledger, the balance, the
level check and the live leaderboards) from 4 processes at once, and the bulk path.

Each process records activities as requests would — one transaction per activity — for demo members with the
default rules installed, so every call runs the real rule evaluation (caps included) and posts one award.
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, connections
from django.utils import timezone

from bench.harness import Benchmark, Context, Figure
from community import services as community_services
from members import demo as members_demo
from members.models import Member
from rewards.models import PointEntry
from rewards.services.ledger import BulkAward, points_award_bulk
from rewards.services.levels import levels_install_defaults
from rewards.services.rules import point_rules_install_defaults

MEMBERS = 1000
PROCESSES = 4
CALLS_PER_PROCESS = 2500
WARM_UP_CALLS = 100
BULK_ENTRIES = 10_000
# Verbs the default rules reward, with the data they look at. Spread over 60 days, so caps rarely bite.
VERBS = ("question_answered", "survey_answered", "event_attended", "feedback_submitted", "feedback_accepted")
DAYS = 60


def _ensure_tables() -> None:
    """Create the rewards tables and columns the migrations do not have yet (models awaiting their migration)."""
    from django.apps import apps

    existing = set(connection.introspection.table_names())
    models = list(apps.get_app_config("rewards").get_models())
    with connection.schema_editor() as editor:
        for model in models:
            if model._meta.db_table not in existing:
                editor.create_model(model)
                continue
            with connection.cursor() as cursor:
                columns = {c.name for c in connection.introspection.get_table_description(cursor, model._meta.db_table)}
            for field in model._meta.local_concrete_fields:
                if field.column not in columns:
                    editor.add_field(model, field)


@functools.cache
def _members(context: Context) -> tuple[int, ...]:
    _ensure_tables()
    point_rules_install_defaults()
    levels_install_defaults()
    seeded = members_demo.members_seed(
        count=context.size(MEMBERS), seed=context.seed, now=timezone.now(), join_days=120
    )
    return tuple(demo_member.member.pk for demo_member in seeded)


def _calls(context: Context, name: str, count: int) -> list[tuple[int, str, datetime, dict[str, Any]]]:
    rng: random.Random = context.rng(name)
    members = _members(context)
    now = timezone.now()
    calls = []
    for _ in range(count):
        verb = rng.choice(VERBS)
        data = {"category": rng.choice(("idea", "bug", "praise"))} if verb == "feedback_submitted" else {}
        calls.append((rng.choice(members), verb, now - timedelta(seconds=rng.randrange(DAYS * 86_400)), data))
    return calls


def _record(member: Member, verb: str, moment: datetime, data: dict[str, Any]) -> None:
    # One request: the activity is recorded and, through the rules hook, awarded in one transaction.
    community_services.record_activity(member=member, verb=verb, occurred_at=moment, data=data)


def _worker(context: Context, index: int, barrier: Any, results: Any) -> None:
    try:
        members = Member.objects.in_bulk(list(_members(context)))
        for member_id, verb, moment, data in _calls(context, f"warm-up-{index}", WARM_UP_CALLS):
            _record(members[member_id], verb, moment, data)
        calls = _calls(context, f"awards-{index}", context.size(CALLS_PER_PROCESS))
        latencies = []
        barrier.wait()
        started = time.time()
        for member_id, verb, moment, data in calls:
            began = time.perf_counter_ns()
            _record(members[member_id], verb, moment, data)
            latencies.append(time.perf_counter_ns() - began)
        results.put((started, time.time(), latencies, None))
    except Exception as error:  # reported by the parent, which would otherwise wait forever
        results.put((0.0, 0.0, [], repr(error)))
        barrier.abort()
    finally:
        connections.close_all()


def awards_service(context: Context) -> Iterator[Figure]:
    _members(context)
    connections.close_all()  # each process opens its own connection
    fork = multiprocessing.get_context("fork")
    barrier, results = fork.Barrier(PROCESSES), fork.Queue()
    workers = [fork.Process(target=_worker, args=(context, i, barrier, results)) for i in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=1800) for _ in workers]
    for worker in workers:
        worker.join()
    errors = [error for *_rest, error in outcomes if error]
    if errors:
        raise RuntimeError(f"award workers failed: {errors}")
    first_start = min(start for start, *_ in outcomes)
    wall = max(end for _start, end, *_ in outcomes) - first_start
    latencies = sorted(ns for _start, _end, laps, _error in outcomes for ns in laps)
    # Every process finished its warm-up before any timed call began, so these are the timed awards.
    awards = PointEntry.objects.filter(created_at__gte=datetime.fromtimestamp(first_start, tz=UTC)).count()
    rank = max(1, round(0.99 * len(latencies)))
    yield Figure("rewards.awards_service", len(latencies) / wall, "awards/s")
    yield Figure("rewards.awards_service.entries", awards / wall, "entries/s")
    yield Figure("rewards.awards_service.p50", latencies[len(latencies) // 2] / 1e6, "ms")
    yield Figure("rewards.awards_service.p99", latencies[rank - 1] / 1e6, "ms")


def awards_bulk(context: Context) -> Iterator[Figure]:
    """`points_award_bulk` with 10,000 entries in one call (an event's attendees, a migration of old points)."""
    members = _members(context)
    rng = context.rng("awards_bulk")
    run = time.time_ns()  # keys of their own, so a kept database can run it again
    awards = [
        BulkAward(
            member_id=rng.choice(members),
            amount=rng.randint(1, 50),
            reason="Bench bulk",
            idempotency_key=f"bench-bulk-{context.seed}-{run}-{index}",
        )
        for index in range(context.size(BULK_ENTRIES))
    ]
    # A warm-up call first, as in a worker that has served requests before (URL maps, caches, connections).
    points_award_bulk(
        awards=[
            BulkAward(
                member_id=member_id, amount=1, reason="Bench warm-up", idempotency_key=f"bench-bulk-warm-{run}-{i}"
            )
            for i, member_id in enumerate(members[:WARM_UP_CALLS])
        ]
    )
    # The setup's garbage (seeding the members left some 30,000 objects in reference cycles) is collected now:
    # otherwise the timed call pays for a full collection of it (about 70 ms here), which is not its own cost.
    gc.collect()
    started = time.perf_counter()
    created = points_award_bulk(awards=awards)
    elapsed = time.perf_counter() - started
    if created != len(awards):
        raise RuntimeError(f"{created} of {len(awards)} bulk awards posted")
    yield Figure("rewards.awards_bulk", created / elapsed, "entries/s")


BENCHMARKS = (
    Benchmark("rewards.awards_service", awards_service),
    Benchmark("rewards.awards_bulk", awards_bulk),
)
