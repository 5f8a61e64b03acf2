"""API rate limits as fixed-window counters.

DRF's stock throttles keep every request's timestamp in one cache entry per client and rewrite the whole list
on each request: at thousands of requests a minute that is a large value read, unpickled, pickled and written
per call. A counter per client and window is one atomic increment. The price is the usual one of fixed windows:
a client can make up to twice the rate across a window boundary.
"""

from __future__ import annotations

from typing import Any

from rest_framework import throttling


class FixedWindowThrottleMixin:
    """Counts requests per (scope, client, window) with an atomic cache increment."""

    key: str | None
    num_requests: int
    duration: int

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:  # type: ignore[attr-defined]
            return True
        ident = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if ident is None:
            return True
        self.now = self.timer()  # type: ignore[attr-defined]
        window = int(self.now // self.duration)
        self.key = f"{ident}:{window}"
        cache = self.cache  # type: ignore[attr-defined]
        if hasattr(cache, "count"):  # community.cache's Redis backend: one round trip
            count = cache.count(self.key, self.duration + 1)
        else:
            try:
                count = cache.incr(self.key)
            except ValueError:  # the first request of the window
                count = 1 if cache.add(self.key, 1, self.duration + 1) else cache.incr(self.key)
        self.window_ends = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self) -> float | None:
        return max(0.0, self.window_ends - self.timer())  # type: ignore[attr-defined]


class UserRateThrottle(FixedWindowThrottleMixin, throttling.UserRateThrottle):
    pass


class AnonRateThrottle(FixedWindowThrottleMixin, throttling.AnonRateThrottle):
    pass
