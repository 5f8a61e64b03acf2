"""Badges. (Being built; the ledger calls `badges_evaluate` after lifetime points change.)"""

from __future__ import annotations

from collections.abc import Sequence


def badges_evaluate(*, member_ids: Sequence[int], trigger: str) -> None:
    """Award any badge whose criteria these members now meet."""
    return None
