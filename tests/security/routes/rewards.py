"""The rewards engine: points, check-in, levels, badges (and their public Open Badges documents), leaderboards, shop."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from rewards.models import LeaderboardSnapshot, PeriodKind
from rewards.models.leaderboards import period_containing
from rewards.services import badges, points_award
from rewards.services.leaderboards import leaderboard_snapshot_freeze
from rewards.services.shop import reward_redeem
from tests.rewards.factories_badges import BadgeFactory
from tests.rewards.factories_shop import RewardFactory, level
from tests.security.routes import (
    API_MEMBER,
    API_OWN_OR_OPERATOR,
    MEMBER_PAGE,
    OWN_PAGE,
    PUBLIC,
    Route,
    statuses,
)

API_OPERATOR_POST = statuses(401, 403, 403, 403, 400)

ROUTES: dict[str, Route] = {
    # Portal
    "rewards:points": Route(MEMBER_PAGE),
    "rewards:points_checkin": Route(statuses(302, 302, 302, 302, 302), method="post"),
    "rewards:levels": Route(MEMBER_PAGE),
    "rewards:badges": Route(MEMBER_PAGE),
    "rewards:my_badges": Route(MEMBER_PAGE),
    "rewards:badge_detail": Route(MEMBER_PAGE, kwargs={"slug": "badge_slug"}),
    "rewards:leaderboards": Route(MEMBER_PAGE),
    "rewards:leaderboard_snapshot": Route(
        MEMBER_PAGE, kwargs={"period_kind": "snapshot_kind", "period_key": "snapshot_key"}
    ),
    "rewards:shop": Route(MEMBER_PAGE),
    "rewards:shop_reward": Route(MEMBER_PAGE, kwargs={"pk": "reward"}),
    "rewards:shop_redemptions": Route(MEMBER_PAGE),
    "rewards:shop_redemption": Route(OWN_PAGE, kwargs={"pk": "redemption"}),
    # Open Badges 2.0 hosted verification: public by design, and never the recipient's address in clear.
    "rewards:ob_issuer": Route(PUBLIC),
    "rewards:ob_badge_class": Route(PUBLIC, kwargs={"slug": "badge_slug"}),
    "rewards:ob_badge_image": Route(PUBLIC, kwargs={"slug": "badge_slug"}),
    "rewards:ob_assertion": Route(PUBLIC, kwargs={"assertion_uuid": "assertion_uuid"}),
    # API
    "points-balance": Route(API_MEMBER),
    "points-checkin": Route(statuses(401, 201, 201, 201, 201), method="post"),
    "points-award": Route(API_OPERATOR_POST, method="post"),
    "points-deduction": Route(API_OPERATOR_POST, method="post"),
    "points-entry-list": Route(API_MEMBER),
    "points-entry-detail": Route(API_OWN_OR_OPERATOR, kwargs={"pk": "point_entry"}),
    "level-list": Route(API_MEMBER),
    "level-detail": Route(API_MEMBER, kwargs={"pk": "level"}),
    "badge-list": Route(API_MEMBER),
    "badge-detail": Route(API_MEMBER, kwargs={"slug": "badge_slug"}),
    "badge-award-list": Route(API_MEMBER),
    "badge-award-detail": Route(API_OWN_OR_OPERATOR, kwargs={"pk": "badge_award"}),
    "badge-award-grant": Route(API_OPERATOR_POST, method="post"),
    "badge-award-revoke": Route(API_OPERATOR_POST, method="post", kwargs={"pk": "badge_award"}),
    "leaderboard": Route(API_MEMBER),
    "leaderboard-snapshot-list": Route(API_MEMBER),
    "leaderboard-snapshot-detail": Route(API_MEMBER, kwargs={"pk": "snapshot"}),
    "reward-list": Route(API_MEMBER),
    "reward-detail": Route(API_MEMBER, kwargs={"pk": "reward"}),
    # Only `member` has the points.
    "reward-redeem": Route(statuses(401, 201, 400, 400, 400), method="post", kwargs={"pk": "reward"}),
    "redemption-list": Route(API_MEMBER),
    "redemption-detail": Route(API_OWN_OR_OPERATOR, kwargs={"pk": "redemption"}),
    "redemption-cancel": Route(API_OPERATOR_POST, method="post", kwargs={"pk": "redemption"}),
    "redemption-fulfil": Route(statuses(401, 403, 403, 403, 200), method="post", kwargs={"pk": "redemption"}),
}


def objects(world) -> dict[str, object]:
    member = world.member
    badge = BadgeFactory()
    award = badges.badge_grant(badge=badge, member=member, actor=world.operator.user, reason="matrix")
    entry = points_award(
        member=member, amount=500, reason=f"grant {world.secret}", idempotency_key=f"matrix-grant-{world.secret}"
    )
    reward = RewardFactory(price=100, stock=5)
    redemption = reward_redeem(
        member=member, reward=reward, idempotency_key=f"matrix-redeem-{world.secret}", note=world.secret
    )
    # Last week's board, frozen: a snapshot every member may look at.
    last_week = timezone.now() - timedelta(days=8)
    period = period_containing(PeriodKind.WEEK, last_week)
    leaderboard_snapshot_freeze(period_kind=period.kind, period_key=period.key)
    snapshot = LeaderboardSnapshot.objects.filter(period_kind=period.kind, period_key=period.key).first()
    return {
        "badge_slug": badge.slug,
        "badge_award": award,
        "assertion_uuid": award.assertion_uuid,
        "point_entry": entry.entry,
        "level": level("Matrix level", 10),
        "reward": reward,
        "redemption": redemption.redemption,
        "snapshot": snapshot,
        "snapshot_kind": period.kind,
        "snapshot_key": period.key,
    }
