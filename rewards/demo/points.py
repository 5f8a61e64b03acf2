"""Demo data for points: default rules, streak bonuses and levels, and the points the demo members' activity
would have earned.

The demo's activity stream is recorded in bulk (no rules run there). Here each first "checked_in" of a day
becomes a CheckIn row, and every activity an earning rule matches (within its caps, counted per member-local day
and ISO week as the rule does) becomes a bulk award under the rule's own idempotency key — exactly what the rule
would have posted, so nothing could be awarded twice — plus the streak bonuses the runs of days earned. The ledger
then evaluates everyone's level.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from community.models import Activity
from members.models import Member
from rewards.models import CheckIn, MemberLevel, MemberStreak, PointRule, StreakBonus
from rewards.services.checkin import CHECKED_IN, streak_bonuses_install_defaults
from rewards.services.ledger import BulkAward, points_award_bulk
from rewards.services.levels import levels_evaluate, levels_install_defaults
from rewards.services.rules import (
    conditions_match,
    point_rules_install_defaults,
    rule_award_key_for,
    rule_is_active_at,
)


class _RuleLimits:
    """The rules' caps as `rule_apply` counts them, kept in memory while replaying a member's history in order."""

    def __init__(self) -> None:
        self.per_day: Counter[tuple[int, int, date]] = Counter()
        self.per_week: Counter[tuple[int, int, tuple[int, int]]] = Counter()
        self.total: Counter[tuple[int, int]] = Counter()
        self.last_at: dict[tuple[int, int], datetime] = {}

    def allow(self, rule: PointRule, activity: Activity) -> bool:
        member_rule = (activity.member_id, rule.pk)
        day = (*member_rule, activity.local_date)
        week = (*member_rule, tuple(activity.local_date.isocalendar())[:2])
        last = self.last_at.get(member_rule)
        if (
            (rule.first_time_only and self.total[member_rule])
            or (rule.daily_cap is not None and self.per_day[day] >= rule.daily_cap)
            or (rule.weekly_cap is not None and self.per_week[week] >= rule.weekly_cap)
            or (
                rule.cooldown_seconds
                and last
                and activity.occurred_at - last < timedelta(seconds=rule.cooldown_seconds)
            )
        ):
            return False
        self.per_day[day] += 1
        self.per_week[week] += 1
        self.total[member_rule] += 1
        self.last_at[member_rule] = activity.occurred_at
        return True


def seed(*, rng: random.Random, members: list[Member]) -> str:
    rules_created = point_rules_install_defaults()
    bonuses_created = streak_bonuses_install_defaults()
    levels_created = levels_install_defaults()
    # Deductions need a reason to have happened; the demo stream has none, so only earning rules replay.
    rules_by_verb: dict[str, list[PointRule]] = defaultdict(list)
    for rule in PointRule.objects.filter(is_active=True, points__gt=0).order_by("pk"):
        rules_by_verb[rule.verb].append(rule)
    bonuses = list(StreakBonus.objects.filter(is_active=True))

    limits = _RuleLimits()
    awards: list[BulkAward] = []
    check_in_days: dict[int, dict[date, Activity]] = defaultdict(dict)
    activities = (
        Activity.objects.filter(member__in=members, verb__in=[*rules_by_verb, CHECKED_IN])
        .only("pk", "member_id", "verb", "data", "local_date", "occurred_at")
        .order_by("occurred_at", "pk")
    )
    for activity in activities.iterator(chunk_size=2000):
        if activity.verb == CHECKED_IN:
            check_in_days[activity.member_id].setdefault(activity.local_date, activity)
        for rule in rules_by_verb.get(activity.verb, ()):
            if not (rule_is_active_at(rule, activity.occurred_at) and conditions_match(rule.conditions, activity.data)):
                continue
            if limits.allow(rule, activity):
                awards.append(
                    BulkAward(
                        member_id=activity.member_id,
                        amount=rule.points,
                        reason=rule.name,
                        rule=rule,
                        source=activity,
                        idempotency_key=rule_award_key_for(
                            rule_id=rule.pk, local_date=activity.local_date, activity_id=activity.pk
                        ),
                    )
                )

    check_ins: list[CheckIn] = []
    streaks: list[MemberStreak] = []
    for member_id, days in check_in_days.items():
        run = longest = 0
        previous: date | None = None
        for day in sorted(days):
            run = run + 1 if previous == day - timedelta(days=1) else 1
            longest = max(longest, run)
            previous = day
            check_ins.append(CheckIn(member_id=member_id, local_date=day, streak=run, created_at=days[day].occurred_at))
            awards += [
                BulkAward(
                    member_id=member_id,
                    amount=bonus.points,
                    reason=bonus.name,
                    idempotency_key=f"streak_bonus:{member_id}:{day.isoformat()}:{bonus.pk}",
                )
                for bonus in bonuses
                if bonus.applies_to(run)
            ]
        streaks.append(MemberStreak(member_id=member_id, current=run, longest=longest, last_local_date=previous))

    CheckIn.objects.bulk_create(check_ins, batch_size=2000, ignore_conflicts=True)
    MemberStreak.objects.bulk_create(streaks, batch_size=2000, ignore_conflicts=True)
    awarded = points_award_bulk(awards=awards) if awards else 0
    # The ledger evaluated everyone who earned points; this places the rest at the entry level.
    levels_evaluate(member_ids=[member.pk for member in members])
    leveled = MemberLevel.objects.filter(member__in=members, level__threshold__gt=0).count()
    return (
        f"points: {rules_created} rules, {bonuses_created} streak bonuses, {levels_created} levels installed; "
        f"{len(check_ins)} check-ins, {awarded} point entries, {leveled} members above the entry level"
    )
