"""A short-lived cache for dashboard reads, keyed by the rollups' version so a rebuild is seen at once.

Rollups change every 15 minutes at most; between rebuilds the same period and scope always give the same figures,
so a dashboard render reads a handful of cached values instead of running every query again. Each rebuild bumps
the version (also after its commit, so nothing read during it is kept under the new version).
`ANALYTICS_CACHE_SECONDS = 0` switches the cache off.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import translation

VERSION_KEY = "analytics:rollups-version"
DEFAULT_SECONDS = 300

F = TypeVar("F", bound=Callable[..., Any])


def rollups_version_bump() -> None:
    def bump() -> None:
        try:
            cache.incr(VERSION_KEY)
        except ValueError:  # not set yet (or evicted): any new value retires every cached read
            cache.set(VERSION_KEY, 1, None)

    bump()
    transaction.on_commit(bump)


def rollup_cached(function: F) -> F:
    """Cache a selector's result by its keyword arguments, the active language and the rollups' version."""

    @functools.wraps(function)
    def wrapper(**kwargs: Any) -> Any:
        seconds = getattr(settings, "ANALYTICS_CACHE_SECONDS", DEFAULT_SECONDS)
        if not seconds:
            return function(**kwargs)
        version = cache.get(VERSION_KEY, 0)
        raw = repr((function.__module__, function.__qualname__, sorted(kwargs.items()), translation.get_language()))
        key = f"analytics:{version}:{hashlib.sha256(raw.encode()).hexdigest()}"
        found = cache.get(key)
        if found is not None:
            return found
        value = function(**kwargs)
        cache.set(key, value, seconds)
        return value

    return wrapper  # type: ignore[return-value]
