"""Reads the analytics KPIs take from the rewards engine: points issued and redeemed, members per level."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from rewards.models import Level, MemberLevel, PointEntry, Redemption


def _member_filter(prefix: str, *, member_ids: Iterable[int] | QuerySet | None, segment: str | None) -> Q:
    condition = Q()
    if member_ids is not None:
        condition &= Q(**{f"{prefix}member_id__in": member_ids})
    if segment:
        condition &= Q(**{f"{prefix}member__segment": segment})
    return condition


def points_issued(
    *,
    start_at: datetime,
    end_at: datetime,
    member_ids: Iterable[int] | QuerySet | None = None,
    segment: str | None = None,
) -> int:
    """Points earned in [start_at, end_at): the sum of positive lifetime deltas of `earn` entries."""
    entries = PointEntry.objects.filter(
        _member_filter("", member_ids=member_ids, segment=segment),
        kind=PointEntry.Kind.EARN,
        created_at__gte=start_at,
        created_at__lt=end_at,
        lifetime_delta__gt=0,
    )
    return int(entries.aggregate(total=Coalesce(Sum("lifetime_delta"), 0))["total"])


def points_redeemed(
    *,
    start_at: datetime,
    end_at: datetime,
    member_ids: Iterable[int] | QuerySet | None = None,
    segment: str | None = None,
) -> int:
    """Points spent on rewards redeemed in [start_at, end_at) and not cancelled (the price each member paid)."""
    redemptions = Redemption.objects.filter(
        _member_filter("", member_ids=member_ids, segment=segment),
        created_at__gte=start_at,
        created_at__lt=end_at,
    ).exclude(status=Redemption.Status.CANCELLED)
    return int(redemptions.aggregate(total=Coalesce(Sum("price_paid"), 0))["total"])


def member_ids_at_level(*, level_id: int) -> QuerySet:
    """Ids of the members holding the level now (as a subquery, never loaded)."""
    return MemberLevel.objects.filter(level_id=level_id).values("member_id")


def level_choices() -> list[tuple[int, str]]:
    return [(level.pk, level.display_name) for level in Level.objects.order_by("threshold")]
