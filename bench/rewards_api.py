"""The rewards API as an integration sees it: awards POSTed and leaderboards read over HTTP, under gunicorn.

Eight client threads keep eight requests in flight (a closed loop) against gunicorn workers serving the
benchmark database — with Redis for the cache and the live leaderboards when REDIS_URL is set.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from django.contrib.auth.models import Group

from bench.harness import Benchmark, Context, Figure, demo_members
from bench.server import closed_loop, gunicorn_server
from community import roles
from community.services import api_token_create
from members.models import Member
from members.services import member_ensure

CONCURRENCY = 8
AWARD_REQUESTS = 4_000
READ_REQUESTS = 6_000
WARM_UP = 200


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


def award_post(context: Context) -> Iterator[Figure]:
    members = demo_members(context)
    member_ids = [m.pk for m in members]
    token = _operator_token("awards")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    run_id = time.time_ns()

    def request(index: int):
        body = json.dumps({"member": member_ids[index % len(member_ids)], "amount": 1, "reason": "bench"}).encode()
        return "POST", "/api/v1/points/awards/", body, {**headers, "Idempotency-Key": f"bench-{run_id}-{index}"}

    with gunicorn_server(workers=4) as (host, port):
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


def leaderboard_read(context: Context) -> Iterator[Figure]:
    members = demo_members(context)
    tokens = _member_tokens(members, CONCURRENCY * 4)

    def request(index: int):
        token = tokens[index % len(tokens)]
        return "GET", "/api/v1/leaderboards/?period=week&limit=100", None, {"Authorization": f"Bearer {token}"}

    with gunicorn_server(workers=4) as (host, port):
        closed_loop(host=host, port=port, concurrency=CONCURRENCY, requests=WARM_UP, make_request=request)
        result = closed_loop(
            host=host, port=port, concurrency=CONCURRENCY, requests=context.size(READ_REQUESTS), make_request=request
        )
    yield from _figures("leaderboard_read", result, "req/s")


BENCHMARKS = (
    Benchmark("rewards.api.award_post", award_post),
    Benchmark("rewards.api.leaderboard_read", leaderboard_read),
)
