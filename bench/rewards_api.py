"""The rewards API as an integration sees it: awards POSTed and leaderboards read over HTTP, under gunicorn.

Eight connections keep eight requests in flight against gunicorn as production runs it (gunicorn.conf.py: one
threaded worker per core, connections kept open) serving the benchmark database, with Redis for the cache and
the live leaderboards when REDIS_URL is set. The load comes from wrk when it is installed (Debian's `wrk`), else
from eight Python client threads, which take a share of the same two cores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from django.contrib.auth.models import Group

from bench.harness import Benchmark, Context, Figure, demo_members
from bench.server import WrkResult, closed_loop, gunicorn_server, wrk_available, wrk_load
from community import roles
from community.services import api_token_create
from members.models import Member
from members.services import member_ensure

CONCURRENCY = 8
AWARD_REQUESTS = 4_000
READ_REQUESTS = 6_000
WARM_UP = 200
WRK_SECONDS = 15  # with wrk the load runs for a time, not a count


def _operator_token(name: str) -> str:
    from members.models import User

    user, _created = User.objects.get_or_create(email=f"bench-{name}@example.com", defaults={"is_staff": True})
    member_ensure(user=user)
    roles.roles_sync()
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    _token, raw = api_token_create(user=user, name=f"bench {name} {time.time_ns()}")
    return raw


def _member_tokens(members: list[Member], count: int) -> list[str]:
    return [api_token_create(user=m.user, name=f"bench read {time.time_ns()}")[1] for m in members[:count]]


def _figures(name: str, result, unit_name: str) -> Iterator[Figure]:
    errors = sum(count for status, count in result.statuses.items() if status >= 400)
    yield Figure(f"rewards.api.{name}", result.rate(), unit_name)
    yield Figure(f"rewards.api.{name}.p50", result.percentile_ms(50), "ms")
    yield Figure(f"rewards.api.{name}.p99", result.percentile_ms(99), "ms")
    yield Figure(f"rewards.api.{name}.errors", errors, "responses")


def _wrk_figures(name: str, result: WrkResult, unit_name: str) -> Iterator[Figure]:
    yield Figure(f"rewards.api.{name}", result.rate(), unit_name)
    yield Figure(f"rewards.api.{name}.p50", result.p50_ms, "ms")
    yield Figure(f"rewards.api.{name}.p99", result.p99_ms, "ms")
    yield Figure(f"rewards.api.{name}.errors", result.failed, "responses")


def award_post(context: Context) -> Iterator[Figure]:
    members = demo_members(context)
    member_ids = [m.pk for m in members]
    token = _operator_token("awards")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    run_id = time.time_ns()

    def body(index: int) -> str:
        return json.dumps({"member": member_ids[index % len(member_ids)], "amount": 1, "reason": "bench"})

    def request(index: int):
        keyed = {**headers, "Idempotency-Key": f"bench-{run_id}-{index}"}
        return "POST", "/api/v1/points/awards/", body(index).encode(), keyed

    with gunicorn_server() as (host, port):
        if wrk_available():
            load = {
                "host": host,
                "port": port,
                "method": "POST",
                "path": "/api/v1/points/awards/",
                "headers": headers,
                "concurrency": CONCURRENCY,
                "bodies": [body(index) for index in range(len(member_ids))],
                "key_header": "Idempotency-Key",
            }
            wrk_load(**load, seconds=3, key_prefix=f"bench-{run_id}-warm")
            result = wrk_load(**load, seconds=context.size(WRK_SECONDS), key_prefix=f"bench-{run_id}")
            yield from _wrk_figures("award_post", result, "req/s")
            return
        closed_loop(host=host, port=port, concurrency=CONCURRENCY, requests=WARM_UP, make_request=request)
        count = context.size(AWARD_REQUESTS)
        result = closed_loop(
            host=host,
            port=port,
            concurrency=CONCURRENCY,
            requests=count,
            make_request=lambda index: request(WARM_UP + index),
        )
    yield from _figures("award_post", result, "req/s")


def _seed_board(context: Context, members: list[Member]) -> None:
    """This week's points for every demo member, with ties (dense ranks), so the read serves a full top 100
    and the reader (the first member, given the fewest points) ranks outside it."""
    from rewards.services.ledger_bulk import BulkAward, points_award_bulk

    rng = context.rng("rewards_api.leaderboard_read")
    run_id = time.time_ns()
    awards = [
        BulkAward(
            member_id=member.pk,
            amount=1 if index == 0 else rng.choice((5, 10, 10, 20, 50, 100, 200)) * rng.randint(1, 3),
            idempotency_key=f"bench-board-{run_id}-{index}",
            reason="bench",
        )
        for index, member in enumerate(members)
    ]
    points_award_bulk(awards=awards)


def leaderboard_read(context: Context) -> Iterator[Figure]:
    from rewards.services.leaderboards import leaderboard_rebuild

    members = demo_members(context)
    tokens = _member_tokens(members, CONCURRENCY * 4)
    _seed_board(context, members)
    # As in production after the first scheduled rebuild: the live boards are in Redis and marked ready.
    leaderboard_rebuild()
    path = "/api/v1/leaderboards/?period=week&limit=100"

    def request(index: int):
        token = tokens[index % len(tokens)]
        return "GET", path, None, {"Authorization": f"Bearer {token}"}

    with gunicorn_server() as (host, port):
        if wrk_available():
            # wrk sends one token per run; the board read is the same for every member but their own rank.
            load = {
                "host": host,
                "port": port,
                "method": "GET",
                "path": path,
                "headers": {"Authorization": f"Bearer {tokens[0]}"},
                "concurrency": CONCURRENCY,
            }
            wrk_load(**load, seconds=3)
            result = wrk_load(**load, seconds=context.size(WRK_SECONDS))
            yield from _wrk_figures("leaderboard_read", result, "req/s")
            return
        closed_loop(host=host, port=port, concurrency=CONCURRENCY, requests=WARM_UP, make_request=request)
        result = closed_loop(
            host=host, port=port, concurrency=CONCURRENCY, requests=context.size(READ_REQUESTS), make_request=request
        )
    yield from _figures("leaderboard_read", result, "req/s")


BENCHMARKS = (
    Benchmark("rewards.api.award_post", award_post),
    Benchmark("rewards.api.leaderboard_read", leaderboard_read),
)
