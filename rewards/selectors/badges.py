"""Badge reads: the catalogue with what a member has earned, holders of a badge, awards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Case, Count, Q, QuerySet, Value, When

from members.models import Member
from rewards.models import Badge, BadgeAward, BadgeTier


@dataclass(frozen=True)
class BadgeWithStatus:
    badge: Badge
    award: BadgeAward | None  # the member's current award, if they hold the badge
    holders: int

    @property
    def earned(self) -> bool:
        return self.award is not None


def badge_list(*, include_inactive: bool = False) -> QuerySet[Badge]:
    badges = Badge.objects.all() if include_inactive else Badge.objects.filter(is_active=True)
    # Titles first, then bronze, silver, gold: the order members can earn them in.
    tier_order = Case(*(When(tier=tier, then=Value(index)) for index, tier in enumerate(BadgeTier.values)))
    return badges.annotate(
        holders=Count("awards", filter=Q(awards__revoked_at__isnull=True)), tier_order=tier_order
    ).order_by("-is_title", "tier_order", "name", "pk")


def badges_with_status(*, member: Member | None) -> list[BadgeWithStatus]:
    """Every active badge, with the member's award (if any) and how many hold it: two queries."""
    badges = list(badge_list())
    held = held_awards(member=member, badge_ids=[badge.pk for badge in badges]) if member is not None else {}
    return [BadgeWithStatus(badge, held.get(badge.pk), badge.holders) for badge in badges]


def held_awards(*, member: Member, badge_ids: Sequence[int] | None = None) -> dict[int, BadgeAward]:
    """The member's current (unrevoked) awards, by badge id."""
    awards = BadgeAward.objects.filter(member=member, revoked_at__isnull=True)
    if badge_ids is not None:
        awards = awards.filter(badge_id__in=badge_ids)
    return {award.badge_id: award for award in awards}


def member_awards(*, member: Member, include_revoked: bool = False) -> QuerySet[BadgeAward]:
    awards = BadgeAward.objects.filter(member=member).select_related("badge")
    if not include_revoked:
        awards = awards.filter(revoked_at__isnull=True)
    return awards.order_by("-awarded_at", "-id")


def badge_holders(*, badge: Badge) -> QuerySet[BadgeAward]:
    """Current holders of a badge, most recent first."""
    return (
        BadgeAward.objects.filter(badge=badge, revoked_at__isnull=True)
        .select_related("member")
        .order_by("-awarded_at", "-id")
    )


def award_list(*, member: Member | None = None) -> QuerySet[BadgeAward]:
    """Awards (revoked ones included) for the API and admin: everyone's, or one member's."""
    awards = BadgeAward.objects.select_related("badge", "member")
    if member is not None:
        awards = awards.filter(member=member)
    return awards.order_by("-awarded_at", "-id")


def member_titles(*, member_ids: Sequence[int]) -> dict[int, list[str]]:
    """Honorary titles (e.g. 社区达人) each member holds, for showing next to names. One query."""
    titles: dict[int, list[str]] = {}
    for member_id, name in (
        BadgeAward.objects.filter(
            member_id__in=member_ids, revoked_at__isnull=True, badge__is_title=True, badge__is_active=True
        )
        .order_by("member_id", "badge__name")
        .values_list("member_id", "badge__name")
    ):
        titles.setdefault(member_id, []).append(name)
    return titles
