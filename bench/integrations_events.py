"""Product usage events in: batches of 1,000 POSTed to /api/v1/events/ under gunicorn, as a product backend would.

Four client threads keep four batches in flight against four gunicorn workers. Half the events name their member
by e-mail, half by the product's user id (an external identity). Figures are events per second: new events, then
the same batches re-sent (every row a duplicate: the retry path). On a shared machine those swing with the other
load, so the CPU a batch of new events costs is also measured in this process, outside HTTP: the service's Python
time and the PostgreSQL backend's CPU time (as the operating system counts it, when the database runs here).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from bench.harness import Benchmark, Context, Figure, demo_members
from bench.server import closed_loop, gunicorn_server
from community import roles
from community.services import api_token_create
from integrations.models import ExternalIdentity
from integrations.services.events import product_events_ingest
from members.services import member_ensure

BATCH = 1000
BATCHES = 40
WARM_UP_BATCHES = 4
CPU_BATCHES = 10
CONCURRENCY = 4
NAMES = ("project_created", "report_exported", "dashboard_viewed", "invite_sent", "integration_connected")


def _token() -> str:
    from members.models import User

    user, _created = User.objects.get_or_create(email="bench-events@example.com", defaults={"is_staff": True})
    member_ensure(user=user)
    roles.roles_sync()
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    _token_row, raw = api_token_create(user=user, name=f"bench events {time.time_ns()}", scopes=["events:write"])
    return raw


def _bodies(context: Context, *, prefix: str, batches: int) -> list[bytes]:
    """Request bodies built before timing: `batches` batches of 1,000 events over the last week."""
    rng = context.rng(f"integrations.events:{prefix}")
    members = demo_members(context)
    ExternalIdentity.objects.bulk_create(
        [ExternalIdentity(member=m, provider="product", external_id=f"bench-u{m.pk}") for m in members],
        ignore_conflicts=True,
    )
    now = timezone.now()
    bodies = []
    for batch in range(batches):
        events = []
        for index in range(BATCH):
            member = rng.choice(members)
            row = {
                "id": f"{prefix}-{batch}-{index}",
                "name": rng.choice(NAMES),
                "occurred_at": (now - timedelta(seconds=rng.randrange(7 * 86_400))).isoformat(),
                "properties": {"plan": rng.choice(("free", "pro", "team")), "n": index},
            }
            if index % 2:
                row["email"] = member.user.email
            else:
                row["external_id"] = f"bench-u{member.pk}"
            events.append(row)
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def batch_post(context: Context) -> Iterator[Figure]:
    token = _token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    run = f"bench{time.time_ns()}"
    warm = _bodies(context, prefix=f"{run}-warm", batches=WARM_UP_BATCHES)
    bodies = _bodies(context, prefix=run, batches=context.size(BATCHES))

    def request_for(source: list[bytes]):
        return lambda index: ("POST", "/api/v1/events/", source[index], headers)

    with gunicorn_server(workers=CONCURRENCY) as (host, port):
        closed_loop(host=host, port=port, concurrency=CONCURRENCY, requests=len(warm), make_request=request_for(warm))
        fresh = closed_loop(
            host=host, port=port, concurrency=CONCURRENCY, requests=len(bodies), make_request=request_for(bodies)
        )
        resent = closed_loop(
            host=host, port=port, concurrency=CONCURRENCY, requests=len(bodies), make_request=request_for(bodies)
        )
    for name, result in (("events_batch", fresh), ("events_batch_resent", resent)):
        errors = sum(count for code, count in result.statuses.items() if code != 200)
        yield Figure(f"integrations.{name}", result.rate() * BATCH, "events/s")
        yield Figure(f"integrations.{name}.p50", result.percentile_ms(50), "ms/batch")
        yield Figure(f"integrations.{name}.p99", result.percentile_ms(99), "ms/batch")
        yield Figure(f"integrations.{name}.errors", errors, "responses")


def _backend_cpu_ms() -> float | None:
    """CPU time (user + system) of this connection's PostgreSQL backend so far, or None when it cannot be read."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def batch_cpu(context: Context) -> Iterator[Figure]:
    """The CPU one batch of 1,000 new events costs, in process: parsing the body and the service's Python, and the
    database backend's share (members, the insert, the audit record, the commit)."""
    bodies = _bodies(context, prefix=f"cpu{time.time_ns()}", batches=context.size(CPU_BATCHES) + 1)
    product_events_ingest(events=json.loads(bodies[0])["events"], actor=None)  # warm: caches, plans
    started_python, started_backend = time.process_time(), _backend_cpu_ms()
    for body in bodies[1:]:
        product_events_ingest(events=json.loads(body)["events"], actor=None)
    python_ms = (time.process_time() - started_python) * 1000 / (len(bodies) - 1)
    yield Figure("integrations.events_batch.cpu_python", python_ms, "ms/batch")
    finished_backend = _backend_cpu_ms()
    if started_backend is not None and finished_backend is not None:
        backend_ms = (finished_backend - started_backend) / (len(bodies) - 1)
        yield Figure("integrations.events_batch.cpu_postgres", backend_ms, "ms/batch")


BENCHMARKS = (
    Benchmark("integrations.events_batch", batch_post),
    Benchmark("integrations.events_batch_cpu", batch_cpu),
)
