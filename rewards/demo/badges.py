"""Demo data for badges and leaderboards: a handful of badges (a 7-day streak among them), the honorary titles
超级用户 and 社区达人 granted to a few of the most active members, everything the demo activity has earned, frozen
past periods and live boards rebuilt from the ledger. Runs after the points demo; safe to run twice."""

from __future__ import annotations

import random
from typing import Any

from django.db.models import Count

from members.models import Member
from rewards.models import Badge, BadgeAward
from rewards.services.badges import badge_grant, badges_evaluate
from rewards.services.leaderboards import leaderboard_freeze_finished, leaderboard_rebuild

BADGES: tuple[dict[str, Any], ...] = (
    {
        "slug": "first-check-in",
        "name": "First check-in",
        "emoji": "👋",
        "colour": "#4dabf7",
        "tier": "bronze",
        "description": "Your first day in the community.",
        "criteria": {"type": "verb_count", "verb": "checked_in", "count": 1},
    },
    {
        "slug": "week-streak",
        "name": "7-day streak",
        "emoji": "🔥",
        "colour": "#fd7e14",
        "tier": "silver",
        "description": "Checked in **seven days in a row**.",
        "criteria": {"type": "streak", "days": 7},
    },
    {
        "slug": "month-streak",
        "name": "30-day streak",
        "emoji": "🏆",
        "colour": "#e8590c",
        "tier": "gold",
        "description": "A whole month without missing a day.",
        "criteria": {"type": "streak", "days": 30},
    },
    {
        "slug": "helpful",
        "name": "Helpful",
        "emoji": "💡",
        "colour": "#fab005",
        "tier": "silver",
        "description": "Answered ten questions from other members.",
        "criteria": {"type": "verb_count", "verb": "question_answered", "count": 10},
    },
    {
        "slug": "voice-of-users",
        "name": "Voice of the users",
        "emoji": "📣",
        "colour": "#15aabf",
        "tier": "bronze",
        "description": "Sent the product team five pieces of feedback.",
        "criteria": {"type": "verb_count", "verb": "feedback_submitted", "count": 5},
    },
    {
        "slug": "event-regular",
        "name": "Event regular",
        "emoji": "🎟️",
        "colour": "#7950f2",
        "tier": "bronze",
        "description": "Came to three community events.",
        "criteria": {"type": "verb_count", "verb": "event_attended", "count": 3},
    },
    {
        "slug": "points-500",
        "name": "500 club",
        "emoji": "⭐",
        "colour": "#ffd43b",
        "tier": "silver",
        "description": "Earned 500 points in total.",
        "criteria": {"type": "level_reached", "threshold": 500},
    },
    {
        "slug": "monthly-top-10",
        "name": "Top 10 of the month",
        "emoji": "🥇",
        "colour": "#f59f00",
        "tier": "gold",
        "description": "Finished a month in the top ten of the leaderboard.",
        "criteria": {"type": "leaderboard_rank", "period_kind": "month", "top_n": 10},
    },
    {
        "slug": "super-user",
        "name": "超级用户",
        "emoji": "🦸",
        "colour": "#c92a2a",
        "tier": "gold",
        "is_title": True,
        "description": "Super user: knows the product inside out. Given by the community team.",
        "criteria": {"type": "manual"},
    },
    {
        "slug": "community-star",
        "name": "社区达人",
        "emoji": "🌟",
        "colour": "#d6336c",
        "tier": "gold",
        "is_title": True,
        "description": "Community star: the heart of the community. Given by the community team.",
        "criteria": {"type": "manual"},
    },
)
TITLE_HOLDERS = {"super-user": 2, "community-star": 3}


def badges_install_demo() -> list[Badge]:
    badges = []
    for spec in BADGES:
        badge, _created = Badge.objects.get_or_create(
            slug=spec["slug"], defaults={key: value for key, value in spec.items() if key != "slug"}
        )
        badges.append(badge)
    return badges


def seed(*, rng: random.Random, members: list[Member]) -> str:
    badges = {badge.slug: badge for badge in badges_install_demo()}
    ids = [member.pk for member in members]
    # Titles go to a few of the most active members (a random pick among the top twenty).
    busiest = list(
        Member.objects.filter(pk__in=ids).annotate(actions=Count("activities")).order_by("-actions", "pk")[:20]
    )
    granted = 0
    for slug, count in TITLE_HOLDERS.items():
        holders = set(
            BadgeAward.objects.filter(badge=badges[slug], revoked_at__isnull=True).values_list("member_id", flat=True)
        )
        candidates = [member for member in busiest if member.pk not in holders]
        for member in rng.sample(candidates, min(max(0, count - len(holders)), len(candidates))):
            badge_grant(badge=badges[slug], member=member, actor=None, reason="Demo: chosen by the community team")
            granted += 1
    snapshots = leaderboard_freeze_finished()
    earned = len(badges_evaluate(member_ids=ids, trigger="schedule"))
    rebuilt = leaderboard_rebuild()
    boards = f"{rebuilt.boards} live boards rebuilt" if rebuilt.boards else "boards read from the ledger (no Redis)"
    return (
        f"{len(badges)} badges, {earned} earned and {granted} titles granted, {len(snapshots)} past leaderboards "
        f"frozen, {boards}"
    )
