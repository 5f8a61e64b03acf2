"""Load: simulated members against gunicorn + a Celery worker on a scratch database, then the ledger invariants.

`python -m bench.load` (or `make load`): 30 members for 60 s, each a thread that keeps one request in flight and
mixes portal pages, check-ins, leaderboard reads, redemptions and (where the feedback API exists) feedback. The
run fails (exit 1) on any error — a 5xx, a dropped connection, or a 4xx other than a shop's refusal — or when the
ledger invariants do not hold afterwards: every balance equals its ledger sums, no spendable balance or stock is
below zero, no reward sold more than it had. Prints `name: value unit` lines (p50/p95/p99 per route) and merges
them into bench/results.json.

Flags: --users 30 --duration 60 --web-workers 3 --seed 7. A quick proof: `--users 5 --duration 10`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench import harness

# A shop may refuse a redemption (out of stock, not enough points, limit reached): the right answer, not an error.
REFUSALS = {"redeem": {400, 409, 422}, "feedback": set()}
MEMBER_POINTS = 400
REWARD_PRICE = 60
REWARD_STOCK = 40
REWARDS = 3


@dataclass
class Stats:
    latencies_ns: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, status: int, elapsed_ns: int, detail: str = "") -> None:
        with self.lock:
            self.latencies_ns[name].append(elapsed_ns)
            self.statuses[name][status] += 1
            ok = status < 400 or status in REFUSALS.get(name, set())
            if not ok and len(self.errors) < 50:
                self.errors.append(f"{name}: {status} {detail[:200]}")
            elif not ok:
                self.errors.append(name)


@dataclass(frozen=True)
class SimulatedMember:
    member_id: int
    token: str
    session: str


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


# --- the platform under load --------------------------------------------------------------------------------


def server_environment() -> dict[str, str]:
    """What gunicorn and the worker run with: the benchmark's database and one secret key shared with this process,
    which signs the members' sessions."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "community.settings.base",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        # The run measures the platform, not the rate limiter.
        "API_THROTTLE_USER": "100000000/minute",
        "API_THROTTLE_ANON": "100000000/minute",
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def gunicorn(*, workers: int, threads: int) -> Iterator[tuple[str, int]]:
    port = _free_port()
    command = [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "community.wsgi",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--log-level=warning",
    ]
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        command, cwd=harness.PROJECT_DIR, env=server_environment(), stdout=sys.stderr
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health/")
                connection.getresponse().read()
                connection.close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        _stop(process)


@contextmanager
def celery_worker() -> Iterator[subprocess.Popen]:
    """A Celery worker on the benchmark's database and the configured broker."""
    environment = server_environment()
    command = [
        os.path.join(os.path.dirname(sys.executable), "celery"),
        "-A",
        "community",
        "worker",
        "--concurrency=2",
        "--loglevel=WARNING",
        "--without-mingle",
        "--without-gossip",
        f"--hostname=load-{uuid.uuid4().hex[:8]}@%h",
    ]
    # Logs go to stderr: stdout carries only figure lines.
    process = subprocess.Popen(command, cwd=harness.PROJECT_DIR, env=environment, stdout=sys.stderr)  # noqa: S603
    try:
        yield process
    finally:
        _stop(process)


def seed(*, users: int, rng: random.Random) -> tuple[list[SimulatedMember], list[int]]:
    """Members with points, an API token and a signed-in session each; a few rewards with limited stock."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from community.services import api_token_create
    from members.models import User
    from members.services import member_create
    from rewards.models import Reward
    from rewards.services import points_award

    rewards = [
        Reward.objects.create(
            kind=Reward.Kind.GIFT, name=f"Load reward {i}", description="", price=REWARD_PRICE, stock=REWARD_STOCK
        ).pk
        for i in range(REWARDS)
    ]
    simulated = []
    for i in range(users):
        user = User.objects.create_user(email=f"load{i}-{rng.randrange(10**9)}@example.com", password=None)
        member = member_create(user=user, display_name=f"Load member {i}")
        points_award(member=member, amount=MEMBER_POINTS, reason="load test", idempotency_key=f"load-seed-{member.pk}")
        _token, key = api_token_create(user=member.user, name="load")
        session = SessionStore()
        session[SESSION_KEY] = str(member.user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = member.user.get_session_auth_hash()
        session.create()
        simulated.append(SimulatedMember(member_id=member.pk, token=key, session=session.session_key))
    return simulated, rewards


def feedback_body(host: str, port: int) -> dict[str, Any] | None:
    """A feedback submission, or None where the live schema has no feedback API yet."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", "/api/schema/?format=json")
    schema = json.loads(connection.getresponse().read())
    connection.close()
    if "post" not in schema["paths"].get("/api/v1/feedback/", {}):
        return None
    return {"kind": "idea", "title": "Load test: the export button", "body": "It is hard to find on a phone."}


# --- the simulated members ----------------------------------------------------------------------------------


def member_loop(
    *,
    who: SimulatedMember,
    host: str,
    port: int,
    until: float,
    rng: random.Random,
    rewards: list[int],
    feedback: dict[str, Any] | None,
    stats: Stats,
) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    api = {"Authorization": f"Bearer {who.token}", "Content-Type": "application/json"}
    portal = {"Cookie": f"sessionid={who.session}"}

    def send(name: str, method: str, path: str, headers: dict[str, str], body: Any = None) -> None:
        nonlocal connection
        payload = json.dumps(body).encode() if body is not None else None
        started = time.perf_counter_ns()
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            content = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=30)
            status, content = 599, str(error).encode()
        stats.record(name, status, time.perf_counter_ns() - started, content.decode(errors="replace"))

    actions: list[tuple[float, Callable[[], None]]] = [
        (14, lambda: send("portal_home", "GET", "/", portal)),
        (8, lambda: send("portal_points", "GET", "/rewards/points/", portal)),
        (8, lambda: send("portal_shop", "GET", "/rewards/shop/", portal)),
        (8, lambda: send("portal_leaderboard", "GET", "/rewards/leaderboards/", portal)),
        (16, lambda: send("api_leaderboard", "GET", "/api/v1/leaderboards/", api)),
        (8, lambda: send("api_balance", "GET", "/api/v1/points/balance/", api)),
        (12, lambda: send("checkin", "POST", "/api/v1/points/checkin/", api, {})),
        (
            10,
            lambda: send(
                "redeem",
                "POST",
                f"/api/v1/rewards/{rng.choice(rewards)}/redeem/",
                {**api, "Idempotency-Key": f"load-{uuid.uuid4()}"},
                {"note": "load"},
            ),
        ),
    ]
    if feedback is not None:
        actions.append((8, lambda: send("feedback", "POST", "/api/v1/feedback/", api, feedback)))
    weights = [weight for weight, _action in actions]
    while time.monotonic() < until:
        rng.choices(actions, weights=weights)[0][1]()
    connection.close()


def drive(
    *, host: str, port: int, simulated: list[SimulatedMember], rewards: list[int], duration: float, seed: int
) -> tuple[Stats, float]:
    stats = Stats()
    feedback = feedback_body(host, port)
    until = time.monotonic() + duration
    threads = [
        threading.Thread(
            target=member_loop,
            kwargs={
                "who": who,
                "host": host,
                "port": port,
                "until": until,
                "rng": random.Random(f"{seed}:{index}"),
                "rewards": rewards,
                "feedback": feedback,
                "stats": stats,
            },
        )
        for index, who in enumerate(simulated)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stats, time.perf_counter() - started


# --- afterwards ---------------------------------------------------------------------------------------------


def invariants(rewards: list[int]) -> list[str]:
    from django.db.models import Count

    from rewards.models import PointBalance, Redemption, Reward
    from rewards.selectors.ledger import ledger_drift

    problems = []
    if drift := ledger_drift():
        problems.append(f"balances differ from ledger sums for {len(drift)} members: {drift[:3]}")
    if negative := PointBalance.objects.filter(spendable__lt=0).count():
        problems.append(f"{negative} negative spendable balances")
    if Reward.objects.filter(stock__lt=0).exists():
        problems.append("a reward's stock is below zero")
    sold = dict(
        Redemption.objects.filter(reward_id__in=rewards)
        .exclude(status=Redemption.Status.CANCELLED)
        .values_list("reward_id")
        .annotate(n=Count("id"))
    )
    for reward in Reward.objects.filter(pk__in=rewards):
        if sold.get(reward.pk, 0) + reward.stock != REWARD_STOCK:
            problems.append(
                f"reward {reward.pk}: {sold.get(reward.pk, 0)} sold + {reward.stock} left != {REWARD_STOCK}"
            )
    return problems


def percentile_ms(values: list[int], percent: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1] / 1e6


def figures(stats: Stats, elapsed: float, users: int) -> list[harness.Figure]:
    out = []
    total = sum(len(values) for values in stats.latencies_ns.values())
    out.append(harness.Figure("load_members", users, "members"))
    out.append(harness.Figure("load_requests", total, "requests"))
    out.append(harness.Figure("load_throughput", total / elapsed if elapsed else 0, "req/s"))
    out.append(harness.Figure("load_errors", len(stats.errors), "errors"))
    for name in sorted(stats.latencies_ns):
        values = stats.latencies_ns[name]
        out.append(harness.Figure(f"load_{name}_requests", len(values), "requests"))
        for percent in (50, 95, 99):
            out.append(harness.Figure(f"load_{name}_p{percent}", percentile_ms(values, percent), "ms"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A scratch database of its own (`<name>_load_bench`), dropped afterwards; the configured one is never touched.
    configured = os.environ.get("DATABASE_URL")
    if configured and configured.startswith("postgres"):
        os.environ["DATABASE_URL"] = configured.rstrip("/") + "_load"
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
    harness.setup_django()
    from django.db import connections

    with harness.bench_database():
        simulated, rewards = seed(users=args.users, rng=random.Random(args.seed))
        connections.close_all()
        with celery_worker(), gunicorn(workers=args.web_workers, threads=4) as (host, port):
            print(f"{args.users} members for {args.duration:.0f} s against gunicorn + Celery", file=sys.stderr)
            stats, elapsed = drive(
                host=host, port=port, simulated=simulated, rewards=rewards, duration=args.duration, seed=args.seed
            )
            # Give the worker a moment to finish what the traffic enqueued (notifications, badge checks).
            time.sleep(3)
        problems = invariants(rewards)
        results = figures(stats, elapsed, args.users)
        results.append(harness.Figure("load_invariant_violations", len(problems), "violations"))
        for figure in results:
            print(harness.format_figure(figure))
        harness.results_merge(figures=results)
        for name in sorted(stats.statuses):
            print(f"# {name}: {dict(stats.statuses[name])}", file=sys.stderr)
        for line in stats.errors[:20]:
            print(f"ERROR {line}", file=sys.stderr)
        for line in problems:
            print(f"INVARIANT {line}", file=sys.stderr)
    return 1 if stats.errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
