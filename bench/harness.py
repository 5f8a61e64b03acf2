"""The benchmark harness: a database of its own, seeded data, one `name: value unit` line per figure.

A benchmark is a `Benchmark(name, run)` whose `run(context)` yields `Figure`s; modules list theirs in a
`BENCHMARKS` tuple and `bench/__main__.py` names the modules. Sizes go through `context.size()` (so --scale
applies), randomness through `context.rng(name)` (so --seed applies), and `demo_members(context)` gives every
benchmark the same seeded members. Every figure is merged into `bench/results.json`.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
RESULTS_PATH = Path(__file__).resolve().parent / "results.json"
BENCH_SUFFIX = "_bench"


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str


@dataclass(frozen=True)
class Context:
    scale: float
    seed: int

    def size(self, base: int) -> int:
        """`base` multiplied by --scale, never below 1."""
        return max(1, round(base * self.scale))

    def rng(self, name: str) -> random.Random:
        # One stream per benchmark: adding a benchmark never changes another one's data.
        return random.Random(f"{self.seed}:{name}")


@dataclass(frozen=True)
class Benchmark:
    name: str
    run: Callable[[Context], Iterable[Figure]]


# --- timing helpers -----------------------------------------------------------------------------------------


class Stopwatch:
    """Per-call latencies (ns) plus the wall time of the whole loop."""

    def __init__(self) -> None:
        self.latencies: list[int] = []
        self.started = 0
        self.elapsed = 0.0

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = (time.perf_counter_ns() - self.started) / 1e9

    @contextmanager
    def lap(self) -> Iterator[None]:
        started = time.perf_counter_ns()
        yield
        self.latencies.append(time.perf_counter_ns() - started)

    def rate(self, count: int) -> float:
        return count / self.elapsed if self.elapsed > 0 else float("inf")

    def percentile_ms(self, percent: float) -> float:
        """Nearest-rank percentile of the recorded laps, in milliseconds."""
        if not self.latencies:
            raise ValueError("no laps recorded")
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(percent / 100 * len(ordered)))
        return ordered[rank - 1] / 1e6


# --- shared data -------------------------------------------------------------------------------------------

DEMO_MEMBERS = 300


@functools.cache
def demo_members(context: Context) -> list[Any]:
    """Members for any benchmark to act as, created once per run: the demo population, mixed time zones."""
    from django.utils import timezone

    from members import demo

    seeded = demo.members_seed(count=context.size(DEMO_MEMBERS), seed=context.seed, now=timezone.now(), join_days=120)
    return [demo_member.member for demo_member in seeded]


# --- output -------------------------------------------------------------------------------------------------


def _decimals(value: float) -> int:
    # About four significant digits, at least one decimal: 1234.5, 52.35, 0.2134.
    if value == 0 or not math.isfinite(value):
        return 1
    return min(6, max(1, 3 - math.floor(math.log10(abs(value)))))


def rounded(value: float) -> float:
    return round(value, _decimals(value)) if math.isfinite(value) else value


def format_figure(figure: Figure) -> str:
    return f"{figure.name}: {rounded(figure.value):.{_decimals(figure.value)}f} {figure.unit}"


def results_merge(*, figures: Sequence[Figure], path: Path = RESULTS_PATH) -> dict[str, dict[str, Any]]:
    """Merge `figures` into the JSON file at `path`, keeping every figure it holds already. Returns the whole."""
    results: dict[str, dict[str, Any]] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            loaded = None
        if not isinstance(loaded, dict):
            raise ValueError(f"{path} is not a JSON object of figures; move it aside and run again.")
        results = loaded
    for figure in figures:
        results[figure.name] = {"value": rounded(figure.value), "unit": figure.unit}
    # Written next to the target and renamed, so an interrupted run never leaves half a file.
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False) as handle:
        json.dump(dict(sorted(results.items())), handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    os.replace(handle.name, path)
    return results


def selected(benchmarks: Sequence[Benchmark], only: str | None) -> list[Benchmark]:
    return [benchmark for benchmark in benchmarks if only is None or benchmark.name.startswith(only)]


def run(
    *,
    benchmarks: Sequence[Benchmark],
    context: Context,
    only: str | None = None,
    out: TextIO = sys.stdout,
    results_path: Path = RESULTS_PATH,
) -> list[Figure]:
    """Run the benchmarks whose name starts with `only`, print each figure, merge them into the results file."""
    figures: list[Figure] = []
    for benchmark in selected(benchmarks, only):
        produced = list(benchmark.run(context))
        for figure in produced:
            out.write(format_figure(figure) + "\n")
        out.flush()
        # Saved after each benchmark so a later failure keeps what was measured.
        results_merge(figures=produced, path=results_path)
        figures.extend(produced)
    return figures


# --- command line and database ------------------------------------------------------------------------------


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the Hearth benchmarks.")
    parser.add_argument("--only", metavar="PREFIX", help="Run only benchmarks whose name starts with PREFIX.")
    parser.add_argument("--scale", type=_positive_float, default=1.0, help="Multiply every data size (default 1).")
    parser.add_argument("--seed", type=int, default=42, help="Seed for the generated data (default 42).")
    return parser.parse_args(argv)


def bench_database_url(configured: str | None, *, var_dir: Path) -> str:
    """The URL of the benchmark's own database, derived from the configured DATABASE_URL.

    PostgreSQL: a `<name>_bench` database on the same server. SQLite: a `<stem>_bench` file beside the
    configured one, or `bench.sqlite3` in the var directory when nothing is configured.
    """
    if not configured:
        return f"sqlite:///{(var_dir / 'bench.sqlite3').resolve()}"
    parts = urlsplit(configured)
    if parts.scheme == "sqlite":
        name = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not name or name == ":memory:":
            return configured
        path = Path(name)
        bench = path.with_name(f"{path.stem}{BENCH_SUFFIX}{path.suffix}").resolve()
        return f"sqlite:///{bench}"
    name = parts.path.lstrip("/")
    if not name:
        raise ValueError("DATABASE_URL names no database.")
    return urlunsplit(parts._replace(path=f"/{name}{BENCH_SUFFIX}"))


def setup_django() -> None:
    """Configure Django for a benchmark run, pointed at the benchmark's own database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "community.settings.base")
    os.environ.setdefault("DEBUG", "true")
    var_dir = Path(os.environ.get("HEARTH_VAR_DIR", str(PROJECT_DIR / "var")))
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = bench_database_url(os.environ.get("DATABASE_URL"), var_dir=var_dir)

    import django
    from django.conf import settings

    django.setup()
    # DEBUG only supplies the development secret key; its query log would be timed along with the code.
    settings.DEBUG = False


def _postgres_admin(settings_dict: dict[str, Any]) -> Any:
    """An autocommit connection to the server's maintenance database, for CREATE / DROP DATABASE."""
    import psycopg

    params = {
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
    }
    params = {key: value for key, value in params.items() if value}
    try:
        return psycopg.connect(dbname="postgres", autocommit=True, **params)
    except psycopg.OperationalError:
        return psycopg.connect(dbname="template1", autocommit=True, **params)


def _sqlite_files(name: str) -> list[Path]:
    return [Path(f"{name}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]


@contextmanager
def bench_database() -> Iterator[None]:
    """Create and migrate a fresh benchmark database (dropping any leftover), and remove it afterwards."""
    from django.core.management import call_command
    from django.db import connection, connections

    settings_dict = connection.settings_dict
    name = str(settings_dict["NAME"])
    postgres = connection.vendor == "postgresql"
    # The configured database is never touched: only a name the harness derived may be dropped.
    stem = name if postgres else Path(name).stem
    if name != ":memory:" and stem != "bench" and not stem.endswith(BENCH_SUFFIX):
        raise RuntimeError(f"Refusing to use {name!r} as the benchmark database.")

    def drop() -> None:
        connections.close_all()
        if postgres:
            from psycopg import sql

            with _postgres_admin(settings_dict) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        elif name != ":memory:":
            for path in _sqlite_files(name):
                path.unlink(missing_ok=True)

    drop()
    if postgres:
        from psycopg import sql

        with _postgres_admin(settings_dict) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield
    finally:
        drop()


def main(benchmarks: Callable[[], Sequence[Benchmark]], argv: Sequence[str] | None = None) -> int:
    """Entry point: `benchmarks` is called once Django is set up (benchmark modules import models)."""
    args = parse_args(argv)
    setup_django()
    chosen = selected(benchmarks(), args.only)
    if not chosen:
        print(f"No benchmark name starts with {args.only!r}.", file=sys.stderr)
        return 2
    from django.db import connection

    # On stderr, so stdout holds nothing but figure lines.
    print(
        f"{connection.vendor} database {connection.settings_dict['NAME']}, scale {args.scale:g}, seed {args.seed}",
        file=sys.stderr,
    )
    with bench_database():
        run(benchmarks=chosen, context=Context(scale=args.scale, seed=args.seed))
    return 0
