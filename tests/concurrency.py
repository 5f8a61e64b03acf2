"""Running a function in several threads at once, each on its own database connection (race tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connections


def at_once(count: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(0..count-1) in `count` threads released together; exceptions are returned, not raised."""
    barrier = threading.Barrier(count)

    def work(index: int) -> Any:
        try:
            barrier.wait()
            return fn(index)
        except Exception as exc:  # asserted on by the test
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(work, range(count)))
