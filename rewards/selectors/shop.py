"""Reads for the rewards shop: the catalogue (with the member's own redemption counts) and redemptions."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from members.models import Member
from rewards.models import Level, MemberLevel, Redemption, Reward

ACTIVE_STATUSES = (Redemption.Status.PENDING, Redemption.Status.FULFILLED)


def _with_member_counts(rewards: QuerySet[Reward], member: Member | None) -> QuerySet[Reward]:
    rewards = rewards.select_related("min_level")
    if member is None:
        return rewards
    return rewards.annotate(
        my_active_redemptions=Count(
            "redemptions", filter=Q(redemptions__member_id=member.pk, redemptions__status__in=ACTIVE_STATUSES)
        )
    )


def reward_catalogue(*, member: Member | None = None, now: datetime | None = None) -> QuerySet[Reward]:
    """What members can browse: active rewards that have not ended (upcoming ones included, marked by their
    dates), each annotated with `my_active_redemptions` when a member is given. One query."""
    now = now or timezone.now()
    rewards = Reward.objects.filter(is_active=True).filter(Q(available_until__isnull=True) | Q(available_until__gt=now))
    return _with_member_counts(rewards, member).order_by("sort_order", "name", "id")


def reward_visible(*, member: Member | None = None) -> QuerySet[Reward]:
    """Rewards a member may open: every active one, including ended ones (their redemptions link there)."""
    return _with_member_counts(Reward.objects.filter(is_active=True), member)


def reward_list_all(*, member: Member | None = None) -> QuerySet[Reward]:
    """Every reward, for operators."""
    return _with_member_counts(Reward.objects.all(), member).order_by("sort_order", "name", "id")


def redemptions_for_member(*, member: Member) -> QuerySet[Redemption]:
    return (
        Redemption.objects.filter(member_id=member.pk)
        .select_related("reward", "coupon_code")
        .order_by("-created_at", "-id")
    )


def redemption_list() -> QuerySet[Redemption]:
    """Every redemption, for the operators' fulfilment queue."""
    return Redemption.objects.select_related("reward", "member", "coupon_code", "changed_by").order_by(
        "-created_at", "-id"
    )


def level_held(*, member: Member) -> Level | None:
    """The level the member holds now (kept during a demotion grace period), or None."""
    held = MemberLevel.objects.filter(member_id=member.pk).select_related("level").first()
    return held.level if held is not None else None
