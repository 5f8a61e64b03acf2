"""Analytics: the nightly rollup of one day, a full rebuild, the cohort recompute, and reading the dashboards.

Data is generated here (seeded, `--scale` multiplies it): members spread over 120 days of joining, activity rows
skewed towards a few very active members, written straight to the stream (no point rules: they are not what is
measured). The issue's targets at 10,000,000 rows are printed beside each figure as `*.target` lines.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.utils import timezone

from bench.harness import Benchmark, Context, Figure, Stopwatch

MEMBERS = 3_000
ACTIVITIES = 150_000
DAYS = 120
RENDERS = 30
API_CALLS = 100
VERBS = ("checked_in", "question_answered", "feedback_submitted", "event_attended", "survey_answered")
ZONES = ("Asia/Shanghai", "Asia/Shanghai", "Asia/Shanghai", "Europe/Berlin", "America/Los_Angeles")


@cache
def _world(context: Context) -> tuple[int, int]:
    """Members and activity rows, created once per run. Returns (members, activities)."""
    from community.models import Activity
    from members.models import Member, User

    rng: random.Random = context.rng("analytics")
    now = timezone.now()
    from django.contrib.auth.hashers import make_password

    unusable = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"analytics{n}@bench.example.com", password=unusable) for n in range(context.size(MEMBERS))]
    )
    members = Member.objects.bulk_create(
        [
            Member(
                user=user,
                display_name=f"Bench {n}",
                time_zone=rng.choice(ZONES),
                joined_at=now - timedelta(days=rng.uniform(0, DAYS)),
                segment=rng.choice(("novice", "novice", "active", "loyal")),
            )
            for n, user in enumerate(users)
        ]
    )
    weights = [rng.paretovariate(1.2) for _ in members]
    rows = []
    for _ in range(context.size(ACTIVITIES)):
        member = rng.choices(members, weights=weights)[0]
        span = max(60.0, (now - member.joined_at).total_seconds())
        moment = member.joined_at + timedelta(seconds=rng.uniform(0, span))
        rows.append(
            Activity(
                member=member,
                verb=rng.choice(VERBS),
                occurred_at=moment,
                local_date=moment.astimezone(ZoneInfo(member.time_zone)).date(),
            )
        )
        if len(rows) >= 20_000:
            Activity.objects.bulk_create(rows)
            rows = []
    Activity.objects.bulk_create(rows)
    return len(members), context.size(ACTIVITIES)


def _operator_client():
    from django.contrib.auth.models import Group
    from django.test import Client

    from community import roles
    from members.models import Member, User

    user, _created = User.objects.get_or_create(email="bench.operator@bench.example.com", defaults={"is_staff": True})
    Member.objects.get_or_create(user=user, defaults={"display_name": "Bench operator"})
    roles.roles_sync()
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    client = Client()
    client.force_login(user)
    return client


def rollups(context: Context) -> Iterator[Figure]:
    from analytics.services.rollups import cohorts_recompute, program_today, rollups_rebuild, rollups_rebuild_all

    members, activities = _world(context)
    yield Figure("analytics.data.members", members, "members")
    yield Figure("analytics.data.activities", activities, "rows")
    with Stopwatch() as full:
        rollups_rebuild_all()
    yield Figure("analytics.rollup_full_rebuild", full.elapsed, "s")
    yield Figure("analytics.rollup_full_rebuild.target", 60, "s")
    yesterday = program_today() - timedelta(days=1)
    with Stopwatch() as nightly:
        rollups_rebuild(start=yesterday, end=yesterday, cohorts=False)
    yield Figure("analytics.rollup_one_day", nightly.elapsed, "s")
    yield Figure("analytics.rollup_one_day.target", 1, "s")
    with Stopwatch() as cohorts:
        cohorts_recompute()
    yield Figure("analytics.cohort_recompute", cohorts.elapsed, "s")
    yield Figure("analytics.cohort_recompute.target", 1, "s")


def reads(context: Context) -> Iterator[Figure]:
    from analytics.models import DaySegment
    from analytics.services.rollups import rollups_rebuild_all

    _world(context)
    if not DaySegment.objects.exists():
        rollups_rebuild_all()
    from django.test import override_settings

    client = _operator_client()
    pages = (("dashboard_render", "/analytics/"), ("admin_home_render", "/admin/"),
             ("cohort_page_render", "/analytics/cohorts/"))  # fmt: skip
    # "uncached": every render runs every rollup query (the dashboard cache switched off); "cached": repeated
    # renders between two rollup runs, as operators see them.
    for label, seconds in (("uncached", 0), ("cached", 300)):
        with override_settings(ANALYTICS_CACHE_SECONDS=seconds):
            for name, url in pages:
                client.get(url)  # warm-up: templates, caches, connection
                watch = Stopwatch()
                with watch:
                    for _ in range(context.size(RENDERS)):
                        with watch.lap():
                            response = client.get(url)
                        if response.status_code != 200:
                            raise RuntimeError(f"{url} answered {response.status_code}")
                yield Figure(f"analytics.{name}.{label}.p50", watch.percentile_ms(50), "ms")
                yield Figure(f"analytics.{name}.{label}.p99", watch.percentile_ms(99), "ms")
    yield Figure("analytics.render.target", 200, "ms")
    watch = Stopwatch()
    client.get("/api/v1/analytics/cohorts/")
    with override_settings(ANALYTICS_CACHE_SECONDS=0), watch:
        for _ in range(context.size(API_CALLS)):
            with watch.lap():
                client.get("/api/v1/analytics/cohorts/")
    yield Figure("analytics.cohort_api.p50", watch.percentile_ms(50), "ms")
    yield Figure("analytics.cohort_api.p99", watch.percentile_ms(99), "ms")
    yield Figure("analytics.cohort_api.p99.target", 50, "ms")


BENCHMARKS = (
    Benchmark("analytics.rollups", rollups),
    Benchmark("analytics.reads", reads),
)
