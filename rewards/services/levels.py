"""Levels: thresholds on lifetime points. (Being built; the ledger calls `levels_evaluate` after each change.)"""

from __future__ import annotations

from collections.abc import Sequence


def levels_evaluate(*, member_ids: Sequence[int]) -> None:
    """Promote (at once) or schedule demotion (after the grace period) for these members."""
    return None
