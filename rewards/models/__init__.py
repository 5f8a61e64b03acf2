"""Rewards models, one module per topic; every model is importable from `rewards.models`."""

from rewards.models.ledger import MAX_ENTRY_POINTS, PointBalance, PointEntry
from rewards.models.rules import PointRule

__all__ = ["MAX_ENTRY_POINTS", "PointBalance", "PointEntry", "PointRule"]
from rewards.models.shop import *  # noqa: F403
from rewards.models.expiry import *  # noqa: F403
from rewards.models.checkin import *  # noqa: F403
from rewards.models.levels import *  # noqa: F403
from rewards.models.idempotency import *  # noqa: F403
from rewards.models.leaderboards import *  # noqa: F403
from rewards.models.badges import *  # noqa: F403
