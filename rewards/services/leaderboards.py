"""Leaderboards. (Being built; the ledger calls `leaderboard_entries_posted` in the posting transaction.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def leaderboard_entries_posted(*, entries: Sequence[Any]) -> None:
    """Add new entries' lifetime points to the live boards once the transaction commits."""
    return None
