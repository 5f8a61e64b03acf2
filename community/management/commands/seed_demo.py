"""`seed_demo`: a believable community to explore — members, months of activity, a few notifications.

Each app's demo data lives in its own `<app>/demo.py` and is called from `handle()` below, in dependency order;
the activity stream and notifications are the community app's part and live here.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from analytics import demo as analytics_demo
from community.models import Activity
from community.services import ActivityInput, activities_record_bulk, audit_record, notifications_mark_read, notify
from engage import demo as engage_demo
from feedback import demo as feedback_demo
from integrations import demo as integrations_demo
from members import demo as members_demo
from members.demo import CORE, LAPSED, LURKER, OCCASIONAL, REGULAR, DemoMember, local_moment
from members.models import Member
from members.services.segmentation import members_segment_recompute
from rewards.demo import badges as rewards_badges_demo
from rewards.demo import points as rewards_points_demo
from rewards.demo import shop as rewards_shop_demo

WELCOMED_MEMBERS = 10  # the newest members find a welcome notification in their inbox
LAPSED_QUIET_DAYS = 21  # a lapsed member has done nothing for at least this long


@dataclass(frozen=True)
class _Habit:
    day_odds: tuple[float, float]  # the member's chance of being active on a given day is drawn from this range
    check_in: float  # chance that an active day includes a check-in
    extra_actions: float  # mean number of further actions on an active day
    event_odds: float  # chance of attending a community event
    survey_odds: float  # chance of answering a survey


HABITS = {
    CORE: _Habit(day_odds=(0.6, 0.95), check_in=0.95, extra_actions=2.4, event_odds=0.55, survey_odds=0.7),
    REGULAR: _Habit(day_odds=(0.25, 0.5), check_in=0.85, extra_actions=1.2, event_odds=0.3, survey_odds=0.45),
    OCCASIONAL: _Habit(day_odds=(0.03, 0.1), check_in=0.6, extra_actions=0.5, event_odds=0.06, survey_odds=0.12),
    LAPSED: _Habit(day_odds=(0.15, 0.4), check_in=0.8, extra_actions=0.8, event_odds=0.25, survey_odds=0.3),
    LURKER: _Habit(day_odds=(0.0, 0.01), check_in=0.5, extra_actions=0.3, event_odds=0.01, survey_odds=0.03),
}
EXTRA_VERBS = {"feedback_submitted": 3.0, "question_answered": 4.0, "profile_updated": 0.3}
FEEDBACK_CATEGORIES = {"idea": 4.0, "bug": 3.0, "question": 2.0, "praise": 1.0}
EVENT_NAMES = ("Roadmap preview", "Ask the product team", "Beta build walkthrough", "Community meetup")
SURVEY_NAMES = ("Onboarding experience", "Feature priorities", "Satisfaction pulse", "Pricing and plans")
NEWCOMER_DAYS = 14  # new members are keener in their first two weeks
NEWCOMER_BOOST = 1.8
WEEKEND_FACTOR = 0.7


class Command(BaseCommand):
    help = (
        "Fill the database with a demo community: members with verified e-mails, tags, activity and a few "
        "notifications. All demo members share one password, printed at the end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=300, help="How many members (default 300).")
        parser.add_argument("--days", type=int, default=90, help="Days of activity history (default 90).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed; the same seed gives the same data.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when the database has members already.")

    def handle(self, *args: Any, members: int, days: int, seed: int, if_empty: bool, **options: Any) -> None:
        if members < 1 or days < 1:
            raise CommandError("--members and --days must be at least 1.")
        # Staff accounts (the operator) don't count: they exist before the first demo run.
        if if_empty and Member.objects.filter(user__is_staff=False).exists():
            self.stdout.write("Members exist already; no demo data added.")
            return

        started = time.monotonic()
        now = timezone.now()
        with transaction.atomic():
            activities_before = Activity.objects.count()
            demo_members = members_demo.members_seed(count=members, seed=seed, now=now, join_days=days + 30)
            activities = activities_seed(demo_members=demo_members, seed=seed, now=now, days=days)
            notifications = notifications_seed(demo_members=demo_members)
            # Rewards in dependency order: points and levels first, then badges (they read both), then the shop.
            demo_member_rows = [d.member for d in demo_members]
            rewards_lines = [
                rewards_points_demo.seed(rng=random.Random(f"{seed}:points"), members=demo_member_rows),
                rewards_badges_demo.seed(rng=random.Random(f"{seed}:badges"), members=demo_member_rows),
                rewards_shop_demo.seed(rng=random.Random(f"{seed}:shop"), members=demo_member_rows),
                members_demo.seed(rng=random.Random(f"{seed}:recruitment"), members=demo_member_rows),
                engage_demo.seed(rng=random.Random(f"{seed}:engage"), members=demo_member_rows),
                feedback_demo.seed(rng=random.Random(f"{seed}:feedback"), members=demo_member_rows),
                integrations_demo.seed(rng=random.Random(f"{seed}:integrations"), members=demo_member_rows),
                # Segments from the activity just recorded, before analytics rolls the days up by segment.
                _segments_line(members_segment_recompute(now=now)),
                # Analytics stays last: its rollups read everything the others recorded.
                analytics_demo.seed(rng=random.Random(f"{seed}:analytics"), members=demo_member_rows),
            ]
            # Other apps' demo data records activity too (levels reached, badges earned): count them all.
            activities = Activity.objects.count() - activities_before
            summary = {
                "members": len(demo_members),
                "activities": activities,
                "activity_days": days,
                "notifications": notifications,
                "seed": seed,
                "rewards": rewards_lines,
            }
            audit_record(actor=None, action="demo.seed", after=summary)

        elapsed = time.monotonic() - started
        example = demo_members[-1].member.user.email
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo community created in {elapsed:.1f} s: {len(demo_members)} members, "
                f"{activities} activities over {days} days, {notifications} notifications."
            )
        )
        for line in rewards_lines:
            self.stdout.write(f"  {line}")
        self.stdout.write(
            f"Every demo member signs in with their e-mail and the password {members_demo.DEMO_PASSWORD!r} "
            f"(e.g. {example})."
        )


# --- the community app's demo data: the activity stream and notifications ------------------------------------


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _program_moments(*, start: date, today: date, weekday: int, every: int, hour: int) -> list[datetime]:
    """Moments of a recurring program fixture (events, surveys) in the program's time zone, oldest first."""
    zone = ZoneInfo(settings.TIME_ZONE)
    day = start + timedelta(days=(weekday - start.weekday()) % 7)
    moments = []
    while day <= today:
        moments.append(datetime(day.year, day.month, day.day, hour, tzinfo=zone))
        day += timedelta(days=every)
    return moments


def _member_activity(
    rng: random.Random,
    *,
    demo_member: DemoMember,
    now: datetime,
    days: int,
    events: list[tuple[datetime, str]],
    surveys: list[tuple[datetime, str]],
) -> list[ActivityInput]:
    member, persona = demo_member.member, demo_member.persona
    habit = HABITS[persona]
    zone = ZoneInfo(member.time_zone)
    today = now.astimezone(zone).date()
    joined_day = member.joined_at.astimezone(zone).date()
    active_until = now
    if persona == LAPSED:
        active_until = min(
            member.joined_at + timedelta(days=rng.uniform(10, 40)), now - timedelta(days=LAPSED_QUIET_DAYS)
        )
    day_odds = rng.uniform(*habit.day_odds)
    entries: list[ActivityInput] = []

    def add(verb: str, moment: datetime, data: dict[str, Any] | None = None) -> None:
        if moment < member.joined_at:
            moment = member.joined_at + timedelta(minutes=rng.randint(2, 90))
        if moment <= min(now, active_until + timedelta(days=1)):
            entries.append(ActivityInput(member=member, verb=verb, occurred_at=moment, data=data or {}))

    first_day = max(joined_day, today - timedelta(days=days - 1))
    if joined_day == first_day and rng.random() < 0.6:
        add("profile_updated", member.joined_at + timedelta(minutes=rng.randint(1, 30)), {"fields": ["bio"]})
    for offset in range((today - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        moment = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        if moment > active_until:
            break
        odds = day_odds * (NEWCOMER_BOOST if (day - joined_day).days < NEWCOMER_DAYS else 1.0)
        odds *= WEEKEND_FACTOR if day.weekday() >= 5 else 1.0
        if rng.random() >= min(odds, 0.95):
            continue
        if rng.random() < habit.check_in:
            add("checked_in", local_moment(rng, day=day, time_zone=member.time_zone))
        for _ in range(_poisson(rng, habit.extra_actions)):
            verb = _weighted(rng, EXTRA_VERBS)
            data: dict[str, Any] = {}
            if verb == "feedback_submitted":
                data = {"category": _weighted(rng, FEEDBACK_CATEGORIES)}
            elif verb == "profile_updated":
                data = {"fields": [rng.choice(["bio", "avatar", "display_name", "time_zone"])]}
            add(verb, local_moment(rng, day=day, time_zone=member.time_zone), data)

    for moment, name in events:
        if member.joined_at < moment <= active_until and rng.random() < habit.event_odds:
            add("event_attended", moment + timedelta(minutes=rng.randint(0, 25)), {"event": name})
    for moment, name in surveys:
        if member.joined_at < moment <= active_until and rng.random() < habit.survey_odds:
            day = moment.astimezone(zone).date() + timedelta(days=rng.choices(range(4), weights=(5, 2.5, 1.5, 1))[0])
            add(
                "survey_answered", max(moment, local_moment(rng, day=day, time_zone=member.time_zone)), {"survey": name}
            )
    return entries


def _segments_line(changed: dict[str, int]) -> str:
    return "Segments: " + ", ".join(f"{count} {segment}" for segment, count in changed.items() if count)


def activities_seed(*, demo_members: list[DemoMember], seed: int, now: datetime, days: int) -> int:
    """Record `days` of activity for the demo members through the bulk path. Returns how many activities."""
    rng = random.Random(f"{seed}:activity")
    today = now.astimezone(ZoneInfo(settings.TIME_ZONE)).date()
    start = today - timedelta(days=days - 1)
    # Fortnightly Saturday-evening events and a survey every three weeks, numbered as the program would.
    events = [
        (moment, f"{EVENT_NAMES[number % len(EVENT_NAMES)]} #{number + 1}")
        for number, moment in enumerate(_program_moments(start=start, today=today, weekday=5, every=14, hour=20))
    ]
    surveys = [
        (moment, f"{SURVEY_NAMES[number % len(SURVEY_NAMES)]} ({moment:%Y-%m})")
        for number, moment in enumerate(_program_moments(start=start, today=today, weekday=1, every=21, hour=10))
    ]
    entries = [
        entry
        for demo_member in demo_members
        for entry in _member_activity(rng, demo_member=demo_member, now=now, days=days, events=events, surveys=surveys)
    ]
    entries.sort(key=lambda entry: entry.occurred_at)  # ids then follow time, as they would have
    return activities_record_bulk(entries=entries)


def notifications_seed(*, demo_members: list[DemoMember]) -> int:
    """Welcome the newest members as sign-up would have; some have read it already. Returns how many."""
    sent = 0
    for index, demo_member in enumerate(demo_members[-WELCOMED_MEMBERS:]):
        member = demo_member.member
        notification = notify(member=member, kind="welcome", context={"name": member.display_name}, url="/")
        if notification is None:
            continue
        sent += 1
        if index % 2 == 0:
            notifications_mark_read(member=member, notification_ids=[notification.pk])
    return sent
