"""API rate limits as fixed-window counters.

DRF's stock throttles keep every request's timestamp in one cache entry per client and rewrite the whole list
on each request: at thousands of requests a minute that is a large value read, unpickled, pickled and written
per call. A counter per client and window is one atomic increment. The price is the usual one of fixed windows:
a client can make up to twice the rate across a window boundary.

Generous limits are counted in leases: a process reserves a few requests of the window's allowance at once (one
increment by the lease size) and serves them without asking again, so a busy integration costs one round trip
per lease rather than per request. Reserved requests are counted at once, so the limit is never exceeded; a
client may be refused up to (processes - 1) x (lease - 1) requests early, about 1 % of the limit at most.
"""

from __future__ import annotations

import threading
from typing import Any

from rest_framework import throttling

LEASE_SHARE = 100  # a lease is at most 1/100 of a window's allowance ...
LEASE_MAX = 20  # ... and at most this many requests; limits under 200 a window are counted one by one
_LEASES_MAX_KEYS = 10_000

# (scope, client, window) -> requests of this process's lease still to serve
_leases: dict[str, int] = {}
_leases_lock = threading.Lock()


def lease_size(num_requests: int) -> int:
    return max(1, min(LEASE_MAX, num_requests // LEASE_SHARE))


def throttle_leases_forget() -> None:
    """Drop this process's unused leases (tests; nothing else needs to)."""
    with _leases_lock:
        _leases.clear()


def _take_from_lease(key: str) -> bool:
    with _leases_lock:
        remaining = _leases.get(key, 0)
        if remaining <= 0:
            return False
        _leases[key] = remaining - 1
        return True


def _keep_lease(key: str, requests: int) -> None:
    with _leases_lock:
        if len(_leases) >= _LEASES_MAX_KEYS:  # mostly past windows' leftovers; forgetting only refuses earlier
            _leases.clear()
        _leases[key] = _leases.get(key, 0) + requests


class FixedWindowThrottleMixin:
    """Counts requests per (scope, client, window) with an atomic cache increment (by a lease, see above)."""

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
        self.window_ends = (window + 1) * self.duration
        size = lease_size(self.num_requests)
        if size > 1 and _take_from_lease(self.key):
            return True
        count = self._reserve(size)
        # Of the `size` requests just reserved, those within the limit may be served.
        granted = min(size, self.num_requests - (count - size))
        if granted <= 0:
            return False
        if granted > 1:
            _keep_lease(self.key, granted - 1)
        return True

    def _reserve(self, size: int) -> int:
        """Add `size` to the window's counter; the new total."""
        cache = self.cache  # type: ignore[attr-defined]
        if hasattr(cache, "count"):  # community.cache's Redis backend: one round trip
            return cache.count(self.key, self.duration + 1, amount=size)
        try:
            return cache.incr(self.key, size)
        except ValueError:  # the first request of the window
            return size if cache.add(self.key, size, self.duration + 1) else cache.incr(self.key, size)

    def wait(self) -> float | None:
        return max(0.0, self.window_ends - self.timer())  # type: ignore[attr-defined]


class UserRateThrottle(FixedWindowThrottleMixin, throttling.UserRateThrottle):
    pass


class AnonRateThrottle(FixedWindowThrottleMixin, throttling.AnonRateThrottle):
    pass
