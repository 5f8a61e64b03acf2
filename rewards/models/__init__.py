"""Rewards models, one module per topic; every model is importable from `rewards.models`."""

from rewards.models.ledger import MAX_ENTRY_POINTS, PointBalance, PointEntry
from rewards.models.rules import PointRule

__all__ = ["MAX_ENTRY_POINTS", "PointBalance", "PointEntry", "PointRule"]
