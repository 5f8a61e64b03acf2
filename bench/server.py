"""A real server for HTTP benchmarks: gunicorn serving the project against the benchmark's database; wrk (Debian's
`wrk` package) as the load when it is installed, else a closed-loop Python client that keeps N requests in flight
and records each request's latency (it competes with the server for this machine's two cores)."""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.harness import PROJECT_DIR


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn_server(*, workers: int | None = None, threads: int | None = None) -> Iterator[tuple[str, int]]:
    """Start gunicorn on a free loopback port with the current DATABASE_URL / REDIS_URL; yield (host, port).

    With no arguments it runs as production does, from the project's gunicorn.conf.py; `workers` alone gives
    that many single-threaded workers."""
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
        "--log-level",
        "warning",
    ]
    if workers is not None:
        command += ["--workers", str(workers), "--threads", str(threads or 1)]
    elif threads is not None:
        command += ["--threads", str(threads)]
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


# --- wrk: the load from a separate, native process -------------------------------------------------------------

WRK_SCRIPT = """
local threads = {}
local thread_count = 0
function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end
local counter = 0
failures = 0  -- a global: done() reads it from each thread
local bodies = {BODIES}
function request()
  counter = counter + 1
  local headers = {HEADERS}
  if "{KEY_HEADER}" ~= "" then
    headers["{KEY_HEADER}"] = "{KEY_PREFIX}-" .. id .. "-" .. counter
  end
  local body = nil
  if #bodies > 0 then body = bodies[(counter + id) % #bodies + 1] end
  return wrk.format("{METHOD}", "{PATH}", headers, body)
end
function response(status, headers, body)
  if status >= 400 then
    failures = failures + 1
    if failures == 1 then io.stderr:write("first failure: " .. status .. " " .. body:sub(1, 300) .. "\\n") end
  end
end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  local e = summary.errors
  io.write(string.format("HEARTH %d %d %d %d %.1f %.1f\\n", summary.requests, summary.duration, failed,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    failed: int  # responses with status >= 400, plus socket errors and timeouts
    p50_ms: float
    p99_ms: float

    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def wrk_load(
    *,
    host: str,
    port: int,
    method: str,
    path: str,
    headers: Mapping[str, str],
    concurrency: int,
    seconds: float,
    bodies: Sequence[str] = (),
    key_header: str = "",
    key_prefix: str = "",
) -> WrkResult:
    """Keep `concurrency` connections busy for `seconds` with wrk (a native load generator: the client takes
    little of the CPU the server needs). With `key_header`, each request carries a unique value in it; bodies,
    if given, are used in turn."""
    lua_headers = "{" + ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()) + "}"
    script = (
        WRK_SCRIPT.replace("{BODIES}", "{" + ", ".join(_lua_string(body) for body in bodies) + "}")
        .replace("{HEADERS}", lua_headers)
        .replace("{KEY_HEADER}", key_header)
        .replace("{KEY_PREFIX}", key_prefix)
        .replace("{METHOD}", method)
        .replace("{PATH}", path)
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        threads = max(1, min(2, concurrency))
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            handle.name,
            f"http://{host}:{port}{path}",
        ]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    finally:
        os.unlink(handle.name)
    line = next((line for line in finished.stdout.splitlines() if line.startswith("HEARTH ")), None)
    if finished.returncode or line is None:
        raise RuntimeError(f"wrk failed: {finished.stdout[-500:]} {finished.stderr[-500:]}")
    if finished.stderr.strip():
        print(finished.stderr.strip()[:400], file=sys.stderr)
    requests, duration_us, failed, socket_errors, p50_us, p99_us = line.split()[1:]
    return WrkResult(
        requests=int(requests),
        seconds=int(duration_us) / 1e6,
        failed=int(failed) + int(socket_errors),
        p50_ms=float(p50_us) / 1000,
        p99_ms=float(p99_us) / 1000,
    )
