"""Rules, levels and badges as every award reads them: kept in the process for a few seconds.

Each award needs the active rules, the level ladder and the active badges. Fetching them from the shared cache
costs a round trip per award; keeping a copy in the process costs nothing. A change made in this process
forgets the copy at once (and again on commit); other processes pick it up within
`REWARDS_CONFIG_LOCAL_SECONDS` (default 5 s), behind which the shared cache and then the database stand.
Nothing is rescored by the delay: an entry always records the rule version it was awarded under.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")
DEFAULT_LOCAL_SECONDS = 5.0

_ALL: list[ConfigCache[Any]] = []


class ConfigCache(Generic[T]):
    """One configuration value: a process copy in front of the shared cache in front of `load()`."""

    def __init__(self, *, key: str, load: Callable[[], T], shared_seconds: int) -> None:
        self.key = key
        self.load = load
        self.shared_seconds = shared_seconds
        self._value: T | None = None
        self._valid_until = 0.0
        _ALL.append(self)

    def get(self) -> T:
        now = time.monotonic()
        if self._value is not None and now < self._valid_until:
            return self._value
        value = cache.get(self.key)
        if value is None:
            value = self.load()
            cache.set(self.key, value, self.shared_seconds)
        self._value = value
        self._valid_until = now + float(getattr(settings, "REWARDS_CONFIG_LOCAL_SECONDS", DEFAULT_LOCAL_SECONDS))
        return value

    def forget_local(self) -> None:
        self._value = None
        self._valid_until = 0.0

    def forget(self) -> None:
        """After a change: drop both copies now, and again once the change commits (a read in between would
        otherwise cache the old value again)."""

        def drop() -> None:
            self.forget_local()
            cache.delete(self.key)

        drop()
        transaction.on_commit(drop)


def config_caches_forget_local() -> None:
    """Drop every process copy (tests do this between cases, with the shared cache cleared)."""
    for config in _ALL:
        config.forget_local()
