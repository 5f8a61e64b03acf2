"""`python -m bench`: run every registered benchmark. Add a module's BENCHMARKS to `benchmarks()` below."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench import harness


def benchmarks() -> Sequence[harness.Benchmark]:
    # Imported here, once Django is set up: benchmark modules import models and services.
    from bench import (
        activity,
        analytics_kpis,
        engage_jobs,
        feedback_list,
        integrations_events,
        members_screening,
        rewards_api,
        rewards_awards,
        rewards_leaderboards,
        rewards_shop,
    )

    return [
        *activity.BENCHMARKS,
        *analytics_kpis.BENCHMARKS,
        *rewards_awards.BENCHMARKS,
        *rewards_leaderboards.BENCHMARKS,
        *rewards_shop.BENCHMARKS,
        *rewards_api.BENCHMARKS,
        *engage_jobs.BENCHMARKS,
        *integrations_events.BENCHMARKS,
        *members_screening.BENCHMARKS,
        *feedback_list.BENCHMARKS,
    ]


if __name__ == "__main__":
    sys.exit(harness.main(benchmarks))
