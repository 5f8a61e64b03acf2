"""The benchmark harness: figure lines, results.json merging, selection and seeded sizes (not timing)."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest

from bench import harness
from bench.harness import Benchmark, Context, Figure

LINE = re.compile(r"[a-z0-9_.]+: -?\d+\.\d+ \S+")


def fake(name: str, *figures: Figure) -> Benchmark:
    return Benchmark(name, lambda context: iter(figures))


def exploding(name: str) -> Benchmark:
    def run(context: Context):
        raise AssertionError(f"{name} should not have run")

    return Benchmark(name, run)


@pytest.mark.parametrize(
    ("figure", "line"),
    [
        (Figure("activity.record_single", 1234.5678, "ops/s"), "activity.record_single: 1234.6 ops/s"),
        (Figure("activity.record_single.p50", 0.213449, "ms"), "activity.record_single.p50: 0.2134 ms"),
        (Figure("fake.rate", 52.346, "entries/s"), "fake.rate: 52.35 entries/s"),
        (Figure("fake.zero", 0, "ms"), "fake.zero: 0.0 ms"),
        (Figure("fake.big", 1_250_000, "ops/s"), "fake.big: 1250000.0 ops/s"),
    ],
)
def test_a_figure_is_one_line_of_name_value_unit(figure, line):
    assert harness.format_figure(figure) == line
    assert LINE.fullmatch(line)


def test_run_prints_each_figure_and_writes_them_to_the_results_file(tmp_path: Path):
    results = tmp_path / "results.json"
    out = StringIO()
    benchmark = fake("fake.speed", Figure("fake.speed", 1000.04, "ops/s"), Figure("fake.speed.p99", 1.23456, "ms"))

    figures = harness.run(benchmarks=[benchmark], context=Context(scale=1, seed=1), out=out, results_path=results)

    assert out.getvalue().splitlines() == ["fake.speed: 1000.0 ops/s", "fake.speed.p99: 1.235 ms"]
    assert [figure.name for figure in figures] == ["fake.speed", "fake.speed.p99"]
    assert json.loads(results.read_text()) == {
        "fake.speed": {"value": 1000.0, "unit": "ops/s"},
        "fake.speed.p99": {"value": 1.235, "unit": "ms"},
    }


def test_results_are_merged_into_what_the_file_holds(tmp_path: Path):
    results = tmp_path / "results.json"
    results.write_text(
        json.dumps({"other.figure": {"value": 7.0, "unit": "ms"}, "fake.speed": {"value": 1.0, "unit": "ops/s"}})
    )

    harness.run(
        benchmarks=[fake("fake.speed", Figure("fake.speed", 250.0, "ops/s"))],
        context=Context(scale=1, seed=1),
        out=StringIO(),
        results_path=results,
    )

    assert json.loads(results.read_text()) == {
        "fake.speed": {"value": 250.0, "unit": "ops/s"},
        "other.figure": {"value": 7.0, "unit": "ms"},
    }
    assert list(tmp_path.iterdir()) == [results]  # no temporary file left behind


def test_a_results_file_that_is_not_an_object_is_refused_untouched(tmp_path: Path):
    results = tmp_path / "results.json"
    results.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        harness.results_merge(figures=[Figure("fake.x", 1.0, "ms")], path=results)
    assert results.read_text() == "[1, 2]"


def test_figures_measured_before_a_failing_benchmark_are_kept(tmp_path: Path):
    results = tmp_path / "results.json"
    benchmarks = [fake("fake.first", Figure("fake.first", 3.0, "ops/s")), exploding("fake.second")]
    with pytest.raises(AssertionError):
        harness.run(benchmarks=benchmarks, context=Context(scale=1, seed=1), out=StringIO(), results_path=results)
    assert json.loads(results.read_text()) == {"fake.first": {"value": 3.0, "unit": "ops/s"}}


def test_only_runs_the_benchmarks_with_that_prefix(tmp_path: Path):
    out = StringIO()
    benchmarks = [fake("fake.one", Figure("fake.one", 1.0, "ops/s")), exploding("other.two")]
    harness.run(
        benchmarks=benchmarks,
        context=Context(scale=1, seed=1),
        only="fake",
        out=out,
        results_path=tmp_path / "r.json",
    )
    assert out.getvalue() == "fake.one: 1.000 ops/s\n"


def test_scale_multiplies_sizes_and_the_seed_fixes_the_data():
    assert Context(scale=2, seed=1).size(10_000) == 20_000
    assert Context(scale=0.001, seed=1).size(100) == 1
    same = [Context(scale=1, seed=5).rng("x").random() for _ in range(2)]
    assert same[0] == same[1]
    assert Context(scale=1, seed=5).rng("x").random() != Context(scale=1, seed=6).rng("x").random()
    assert Context(scale=1, seed=5).rng("x").random() != Context(scale=1, seed=5).rng("y").random()


def test_command_line_flags():
    args = harness.parse_args(["--only", "activity", "--scale", "2", "--seed", "7"])
    assert (args.only, args.scale, args.seed) == ("activity", 2.0, 7)
    defaults = harness.parse_args([])
    assert (defaults.only, defaults.scale, defaults.seed) == (None, 1.0, 42)
    with pytest.raises(SystemExit):
        harness.parse_args(["--scale", "0"])


def test_stopwatch_percentiles():
    watch = harness.Stopwatch()
    watch.latencies = [ms * 1_000_000 for ms in range(1, 101)]
    assert watch.percentile_ms(50) == 50.0
    assert watch.percentile_ms(99) == 99.0
    assert watch.percentile_ms(100) == 100.0


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("postgres://u:p@db.internal:5432/hearth", "postgres://u:p@db.internal:5432/hearth_bench"),
        ("postgresql://u@localhost/hearth?sslmode=require", "postgresql://u@localhost/hearth_bench?sslmode=require"),
        ("sqlite:////srv/data/hearth.sqlite3", "sqlite:////srv/data/hearth_bench.sqlite3"),
        (None, "sqlite:////srv/var/bench.sqlite3"),
    ],
)
def test_the_benchmark_database_is_never_the_configured_one(configured, expected):
    assert harness.bench_database_url(configured, var_dir=Path("/srv/var")) == expected


def test_every_registered_benchmark_has_a_unique_dotted_name():
    from bench.__main__ import benchmarks

    names = [benchmark.name for benchmark in benchmarks()]
    assert names and len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_.]+", name) for name in names)
