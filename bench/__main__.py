"""`python -m bench`: run every registered benchmark. Add a module's BENCHMARKS to `benchmarks()` below."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench import harness


def benchmarks() -> Sequence[harness.Benchmark]:
    # Imported here, once Django is set up: benchmark modules import models and services.
    from bench import activity

    return [*activity.BENCHMARKS]


if __name__ == "__main__":
    sys.exit(harness.main(benchmarks))
