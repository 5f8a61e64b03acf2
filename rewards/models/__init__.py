"""Rewards models, one module per topic; every model is importable from `rewards.models`."""

from rewards.models.badges import Badge, BadgeAward, BadgeTier, CriteriaType
from rewards.models.checkin import CheckIn, MemberStreak, StreakBonus
from rewards.models.expiry import PointsExpiryWarning, RewardsSettings
from rewards.models.idempotency import IdempotencyRecord
from rewards.models.leaderboards import LeaderboardSnapshot, LeaderboardSnapshotRow, PeriodKind
from rewards.models.ledger import MAX_ENTRY_POINTS, PointBalance, PointEntry
from rewards.models.levels import Level, MemberLevel, Privilege
from rewards.models.rules import PointRule
from rewards.models.shop import MAX_REWARD_PRICE, MAX_REWARD_STOCK, CouponCode, Redemption, Reward

__all__ = [
    "MAX_ENTRY_POINTS",
    "MAX_REWARD_PRICE",
    "MAX_REWARD_STOCK",
    "Badge",
    "BadgeAward",
    "BadgeTier",
    "CheckIn",
    "CouponCode",
    "CriteriaType",
    "IdempotencyRecord",
    "LeaderboardSnapshot",
    "LeaderboardSnapshotRow",
    "Level",
    "MemberLevel",
    "MemberStreak",
    "PeriodKind",
    "PointBalance",
    "PointEntry",
    "PointRule",
    "PointsExpiryWarning",
    "Privilege",
    "Redemption",
    "Reward",
    "RewardsSettings",
    "StreakBonus",
]
