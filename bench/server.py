"""A real server for HTTP benchmarks: gunicorn serving the project against the benchmark's database, and a
closed-loop client that keeps N requests in flight and records each request's latency."""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.harness import PROJECT_DIR


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn_server(*, workers: int = 4, threads: int = 1) -> Iterator[tuple[str, int]]:
    """Start gunicorn on a free loopback port with the current DATABASE_URL / REDIS_URL; yield (host, port)."""
    port = _free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "community.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        # The benchmark measures the platform, not the rate limiter.
        "API_THROTTLE_USER": "100000000/minute",
        "API_THROTTLE_ANON": "100000000/minute",
    }
    command = [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "community.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=PROJECT_DIR, env=environment)  # noqa: S603 - fixed argv
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
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
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class LoadResult:
    latencies_ns: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_ns)

    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, percent: float) -> float:
        ordered = sorted(self.latencies_ns)
        rank = max(1, -(-len(ordered) * percent // 100))
        return ordered[int(rank) - 1] / 1e6


Request = tuple[str, str, bytes | None, Mapping[str, str]]


def closed_loop(
    *, host: str, port: int, concurrency: int, requests: int, make_request: Callable[[int], Request]
) -> LoadResult:
    """Send `requests` requests from `concurrency` client threads, each waiting for its answer before the next."""
    result = LoadResult()
    lock = threading.Lock()
    counter = iter(range(requests))
    barrier = threading.Barrier(concurrency + 1)

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        latencies: list[int] = []
        statuses: dict[int, int] = {}
        barrier.wait()
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            method, path, body, headers = make_request(index)
            started = time.perf_counter_ns()
            try:
                connection.request(method, path, body=body, headers=dict(headers))
                response = connection.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
                status = 599
            latencies.append(time.perf_counter_ns() - started)
            statuses[status] = statuses.get(status, 0) + 1
        connection.close()
        with lock:
            result.latencies_ns.extend(latencies)
            for status, count in statuses.items():
                result.statuses[status] = result.statuses.get(status, 0) + count

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - started
    return result
