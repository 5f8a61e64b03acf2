"""The rewards shop under contention: 4 processes redeeming one reward at once (every sale takes the same stock row),
then the same crowd hitting it once it is sold out (refusals must stay cheap).

Each process redeems for its own members, one transaction per call, as requests would; every call goes through
`reward_redeem` (member lock, checks, conditional stock update, ledger spend, audit, activity).
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

from django.db import connection, connections
from django.utils import timezone

from bench.harness import Benchmark, Context, Figure
from community.errors import ServiceError
from members import demo as members_demo
from members.models import Member
from rewards.models import Redemption, Reward
from rewards.services.ledger import BulkAward, points_award_bulk
from rewards.services.shop import reward_redeem

MEMBERS = 400
PROCESSES = 4
CALLS_PER_PROCESS = 1000
WARM_UP_CALLS = 50
PRICE = 10


def _ensure_tables() -> None:
    """Create the rewards tables and columns the migrations do not have yet (models awaiting their migration)."""
    from django.apps import apps

    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("rewards").get_models():
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
    """Members with enough points for every call they will make."""
    _ensure_tables()
    seeded = members_demo.members_seed(
        count=context.size(MEMBERS), seed=context.seed, now=timezone.now(), join_days=120
    )
    ids = tuple(demo_member.member.pk for demo_member in seeded)
    per_member = PRICE * (2 * (CALLS_PER_PROCESS + WARM_UP_CALLS) * PROCESSES // len(ids) + 10)
    points_award_bulk(
        awards=[
            BulkAward(
                member_id=pk,
                amount=per_member,
                reason="Bench shop points",
                idempotency_key=f"bench-shop-{context.seed}-{pk}",
            )
            for pk in ids
        ]
    )
    return ids


def _reward(name: str, stock: int) -> int:
    return Reward.objects.create(kind=Reward.Kind.GIFT, name=name, price=PRICE, stock=stock).pk


def _worker(context: Context, index: int, reward_id: int, tag: str, barrier: Any, results: Any) -> None:
    try:
        ids = _members(context)
        mine = list(Member.objects.in_bulk([pk for n, pk in enumerate(ids) if n % PROCESSES == index]).values())
        reward = Reward.objects.get(pk=reward_id)
        warm_up = Reward.objects.get(name="Bench warm-up")
        for call in range(WARM_UP_CALLS):
            reward_redeem(member=mine[call % len(mine)], reward=warm_up, idempotency_key=f"{tag}-w-{index}-{call}")
        calls = context.size(CALLS_PER_PROCESS)
        latencies, refused = [], 0
        barrier.wait()
        started = time.time()
        for call in range(calls):
            began = time.perf_counter_ns()
            try:
                reward_redeem(member=mine[call % len(mine)], reward=reward, idempotency_key=f"{tag}-{index}-{call}")
            except ServiceError:
                refused += 1
            latencies.append(time.perf_counter_ns() - began)
        results.put((started, time.time(), latencies, refused, None))
    except Exception as error:  # reported by the parent, which would otherwise wait forever
        results.put((0.0, 0.0, [], 0, repr(error)))
        barrier.abort()
    finally:
        connections.close_all()


def _race(context: Context, *, reward_id: int, tag: str) -> tuple[float, list[int], int]:
    connections.close_all()  # each process opens its own connection
    fork = multiprocessing.get_context("fork")
    barrier, results = fork.Barrier(PROCESSES), fork.Queue()
    workers = [
        fork.Process(target=_worker, args=(context, i, reward_id, tag, barrier, results)) for i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=1800) for _ in workers]
    for worker in workers:
        worker.join()
    errors = [error for *_rest, error in outcomes if error]
    if errors:
        raise RuntimeError(f"shop workers failed: {errors}")
    wall = max(end for _s, end, *_ in outcomes) - min(start for start, *_ in outcomes)
    latencies = sorted(ns for _s, _e, laps, _r, _err in outcomes for ns in laps)
    return wall, latencies, sum(refused for *_x, refused, _err in outcomes)


def _p(latencies: list[int], percent: float) -> float:
    return latencies[max(1, round(percent / 100 * len(latencies))) - 1] / 1e6


def redeem_contended(context: Context) -> Iterator[Figure]:
    _members(context)
    _reward("Bench warm-up", 1_000_000)
    reward_id = _reward("Bench hot reward", 1_000_000)
    wall, latencies, refused = _race(context, reward_id=reward_id, tag="sell")
    sold = Redemption.objects.filter(reward_id=reward_id).count()
    if refused or sold != len(latencies):
        raise RuntimeError(f"{sold} sold and {refused} refused of {len(latencies)} calls")
    yield Figure("rewards.shop_redeem_contended", sold / wall, "redemptions/s")
    yield Figure("rewards.shop_redeem_contended.p50", _p(latencies, 50), "ms")
    yield Figure("rewards.shop_redeem_contended.p99", _p(latencies, 99), "ms")


def redeem_sold_out(context: Context) -> Iterator[Figure]:
    _members(context)
    if not Reward.objects.filter(name="Bench warm-up").exists():
        _reward("Bench warm-up", 1_000_000)
    reward_id = _reward("Bench sold-out reward", 0)
    wall, latencies, refused = _race(context, reward_id=reward_id, tag="refuse")
    if refused != len(latencies):
        raise RuntimeError(f"{len(latencies) - refused} calls were not refused")
    yield Figure("rewards.shop_redeem_sold_out", refused / wall, "refusals/s")
    yield Figure("rewards.shop_redeem_sold_out.p99", _p(latencies, 99), "ms")


BENCHMARKS = (
    Benchmark("rewards.shop_redeem_contended", redeem_contended),
    Benchmark("rewards.shop_redeem_sold_out", redeem_sold_out),
)
