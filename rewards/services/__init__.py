"""Rewards write paths, one module per topic (ledger, rules, check-in, levels, badges, leaderboards, shop).

Import the module you need (`from rewards.services import ledger`) or the ledger's functions from here.
"""

from rewards.services.ledger import (
    BulkAward,
    LedgerResult,
    points_award,
    points_award_bulk,
    points_deduct,
    points_expire,
    points_refund,
    points_reverse,
    points_spend,
)
from rewards.services.merge import rewards_member_merge

__all__ = [
    "BulkAward",
    "LedgerResult",
    "points_award",
    "points_award_bulk",
    "points_deduct",
    "points_expire",
    "points_refund",
    "points_reverse",
    "points_spend",
    "rewards_member_merge",
]
