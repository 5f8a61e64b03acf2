"""Analytics: the nightly rollup of one day, a full rebuild, the cohort recompute, and reading the dashboards.

Scale 1 is the issue's: 1,000,000 members and 10,000,000 activity rows (`--scale 0.1`: 100,000 members and
1,000,000 rows). Members join over 120 days in five time zones and four segments; each activity row picks its
member with a skew towards a few very active members (the member at fraction x of the population is picked with
density ∝ x^-1/2) and its moment with a skew towards the days just after joining (so retention falls week by week).
Rows are written straight to the stream in time order, as a live stream is (no point rules: they are not what is
measured).

On PostgreSQL the population is made by set-based SQL (`INSERT … SELECT generate_series`, every attribute a seeded
hash of the row number) in a database of its own per scale, `<benchmark database>_analytics_s<scale>`, which is
kept: a marker table records the seed, scale and the moment the data was generated, and the next run with the same
seed and scale reuses it, so re-runs time only the work. Any other seed or scale regenerates it. Drop that database
to free the space (about 5 GB at scale 1). Days are measured from the generation moment (the "anchor"): the nightly
figure rolls up the anchor's previous day, the last full day of data. Elsewhere (SQLite) the same shape is made
through the ORM, which is only practical at small scales.

Figures: the full rebuild, one day (not rolled up yet, then unchanged, then the median of three more runs of it not
rolled up yet), the 15-minute job's days (today - 2 … today + 1), the cohort recompute;
p50/p99 of rendering the analytics dashboard, the admin home and the cohort page uncached (every rollup query runs)
and cached, the cohort API p50/p99; and the queries of each page with 30 and 90 days shown, which must be equal
(the benchmark fails otherwise). The issue's targets are printed beside them as `*.target`.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.db import connection, connections, transaction
from django.utils import timezone

from bench.harness import Benchmark, Context, Figure, Stopwatch

MEMBERS = 1_000_000
ACTIVITIES = 10_000_000
DAYS = 120
RENDERS = 30
LARGE_ROWS = 1_000_000
UNCACHED_RENDERS = 10  # every one runs every rollup query: fewer, so a run at scale 1 stays within minutes
API_CALLS = 100
VERBS = ("checked_in", "question_answered", "feedback_submitted", "event_attended", "survey_answered")
ZONES = ("Asia/Shanghai", "Asia/Shanghai", "Asia/Shanghai", "Europe/Berlin", "America/Los_Angeles")
SEGMENTS = ("novice", "novice", "active", "loyal")
EMAIL_DOMAIN = "bench-analytics.example.com"
DATA_SUFFIX = "_analytics"
MARKER = "bench_analytics_world"
RENDERS_MIN = 5
API_CALLS_MIN = 20


# --- the data database ---------------------------------------------------------------------------------------


@contextmanager
def _data_database(context: Context) -> Iterator[None]:
    """On PostgreSQL, point the default connection at the kept data database of this scale (created and migrated
    as needed): `<benchmark database>_analytics_s1` at scale 1, `…_s0_1` at scale 0.1."""
    if connection.vendor != "postgresql":
        yield
        return
    from django.core.management import call_command
    from psycopg import errors, sql

    from bench.harness import _postgres_admin

    settings_dict = connection.settings_dict
    original = settings_dict["NAME"]
    name = f"{original}{DATA_SUFFIX}_s{context.scale:g}".replace(".", "_")
    connections.close_all()
    with _postgres_admin(settings_dict) as admin, suppress(errors.DuplicateDatabase):
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield
    finally:
        connections.close_all()
        settings_dict["NAME"] = original


def _unit(g: str, salt: int) -> str:
    """SQL for a seeded uniform number in [0, 1) from the integer expression `g` (`salt` picks the stream)."""
    return f"((hashint8extended({g}, %(seed)s * 16 + {salt}) & 2147483647)::float8 / 2147483648.0)"


def _pick(options: tuple[str, ...], g: str, salt: int) -> str:
    array = "ARRAY[" + ", ".join(f"'{option}'" for option in options) + "]"
    return f"({array})[1 + floor({_unit(g, salt)} * {len(options)})::int]"


# The member with index i (0 … n-1) is id first + i; its join moment and zone are hashes of i, so the activity
# rows can compute them without a join.
JOINED_SQL = f"(%(anchor)s::timestamptz - interval '1 second' * floor({_unit('{i}', 1)} * %(span)s))"
ZONE_SQL = _pick(ZONES, "{i}", 2)

USERS_SQL = f"""
INSERT INTO members_user (password, last_login, is_superuser, email, is_staff, is_active, date_joined)
SELECT '!', NULL, false, 'm' || g || '@{EMAIL_DOMAIN}', false, true, {JOINED_SQL.format(i="g")}
FROM generate_series(0, %(members)s - 1) AS g
"""

MEMBERS_SQL = f"""
INSERT INTO members_member (display_name, avatar, bio, locale, time_zone, joined_at, user_id, left_at, segment,
                            segment_changed_at, status, age_band, interests, needs, occupation)
SELECT 'Bench ' || g, '', '', 'en', {ZONE_SQL.format(i="g")}, {JOINED_SQL.format(i="g")}, %(first_user)s + g, NULL,
       {_pick(SEGMENTS, "g", 3)}, NULL, 'active', '', '', '', ''
FROM generate_series(0, %(members)s - 1) AS g
"""

ACTIVITY_SQL = f"""
INSERT INTO community_activity (verb, target_id, data, occurred_at, local_date, dedupe_key, recorded_at, member_id,
                                target_type_id)
SELECT r.verb, '', '{{}}'::jsonb, r.at, (r.at AT TIME ZONE r.zone)::date, NULL, r.at, %(first_member)s + r.i, NULL
FROM (
    SELECT p.i, {_pick(VERBS, "g", 4)} AS verb, {ZONE_SQL.format(i="p.i")} AS zone,
           {JOINED_SQL.format(i="p.i")}
           + (%(anchor)s::timestamptz - {JOINED_SQL.format(i="p.i")}) * power({_unit("g", 5)}, 2) AS at
    FROM generate_series(0, %(rows)s - 1) AS g,
         LATERAL (SELECT least(%(members)s - 1, floor(%(members)s * power({_unit("g", 6)}, 2))::bigint) AS i) AS p
) AS r
ORDER BY r.at
"""


def _marker(cursor) -> tuple | None:
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {MARKER}"
        " (seed bigint, scale float8, members bigint, rows bigint, anchor timestamptz)"
    )
    cursor.execute(f"SELECT seed, scale, members, rows, anchor FROM {MARKER}")
    return cursor.fetchone()


def _postgres_world(context: Context, members: int, rows: int) -> tuple[int, int, datetime]:
    with connection.cursor() as cursor:
        found = _marker(cursor)
        if found and found[0] == context.seed and found[1] == context.scale:
            print(f"analytics: reusing {found[2]} members and {found[3]} rows generated at {found[4]}", file=sys.stderr)
            return found[2], found[3], found[4]
    anchor = timezone.now().replace(microsecond=0)
    started = time.perf_counter()
    params = {"seed": context.seed, "anchor": anchor, "span": DAYS * 86400, "members": members, "rows": rows}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {MARKER}")
        # The data database holds nothing but this population: start from empty tables.
        cursor.execute("TRUNCATE members_user, members_member, community_activity RESTART IDENTITY CASCADE")
        # The rows are consistent by construction; skipping the foreign-key triggers and building the stream's
        # indexes after the load (instead of row by row) is what makes ten million rows a matter of minutes.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(USERS_SQL, params)
        cursor.execute("SELECT min(id) FROM members_user")
        params["first_user"] = cursor.fetchone()[0]
        cursor.execute(MEMBERS_SQL, params)
        cursor.execute("SELECT min(id), max(id), count(*) FROM members_member")
        first, last, count = cursor.fetchone()
        if last - first + 1 != count:
            raise RuntimeError("member ids are not contiguous")
        params["first_member"] = first
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'community_activity' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'community_activity'::regclass)"
        )
        indexes = cursor.fetchall()
        for index_name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{index_name}"')
        cursor.execute(ACTIVITY_SQL, params)
        for _index_name, definition in indexes:
            cursor.execute(definition)
        cursor.execute(
            f"INSERT INTO {MARKER} (seed, scale, members, rows, anchor) VALUES (%s, %s, %s, %s, %s)",
            [context.seed, context.scale, members, rows, anchor],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE members_user, members_member, community_activity")
    print(f"analytics: generated {members} members and {rows} rows in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)  # fmt: skip
    return members, rows, anchor


def _orm_world(context: Context, members_count: int, rows_count: int) -> tuple[int, int, datetime]:
    from django.contrib.auth.hashers import make_password

    from community.models import Activity
    from members.models import Member, User

    rng: random.Random = context.rng("analytics")
    now = timezone.now()
    unusable = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"m{n}@{EMAIL_DOMAIN}", password=unusable) for n in range(members_count)], batch_size=5000
    )
    members = Member.objects.bulk_create(
        [
            Member(
                user=user,
                display_name=f"Bench {n}",
                time_zone=rng.choice(ZONES),
                joined_at=now - timedelta(seconds=int(rng.random() * DAYS * 86400)),
                segment=rng.choice(SEGMENTS),
            )
            for n, user in enumerate(users)
        ],
        batch_size=5000,
    )
    rows = []
    for _ in range(rows_count):
        member = members[min(len(members) - 1, int(len(members) * rng.random() ** 2))]
        moment = member.joined_at + (now - member.joined_at) * rng.random() ** 2
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
    return members_count, rows_count, now


@cache
def _world(context: Context) -> tuple[int, int, datetime]:
    """Members and activity rows, made (or found) once per run. Returns (members, activities, anchor)."""
    members, rows = context.size(MEMBERS), context.size(ACTIVITIES)
    if connection.vendor == "postgresql":
        return _postgres_world(context, members, rows)
    return _orm_world(context, members, rows)


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


# --- rollups ------------------------------------------------------------------------------------------------


def rollups(context: Context) -> Iterator[Figure]:
    from analytics.models import MemberDay
    from analytics.services.rollups import (
        cohorts_recompute,
        program_zone,
        rollups_rebuild,
        rollups_rebuild_all,
        rollups_refresh_recent,
    )

    with _data_database(context):
        members, activities, anchor = _world(context)
        yield Figure("analytics.data.members", members, "members")
        yield Figure("analytics.data.activities", activities, "rows")
        with Stopwatch() as full:
            rollups_rebuild_all()
        yield Figure("analytics.rollup_full_rebuild", full.elapsed, "s")
        yield Figure("analytics.rollup_full_rebuild.target", 60, "s")
        if connection.vendor == "postgresql":
            # By the next night autovacuum has processed the freshly loaded tables, and the stream and the members
            # generated above in one go (their insert threshold; a live stream is vacuumed as it grows, and member
            # rows change rarely): do now what it would have done.
            with connection.cursor() as cursor:
                cursor.execute(
                    "VACUUM ANALYZE analytics_memberday, analytics_daysegment, analytics_dayverb, community_activity,"
                    " members_member"
                )
        # The last full day of data, first as a day not rolled up yet (its member-days removed beforehand), then
        # again unchanged, as the nightly run finds a day the 15-minute job has kept up to date.
        last_day = anchor.astimezone(program_zone()).date() - timedelta(days=1)
        MemberDay.objects.filter(day=last_day).delete()
        if connection.vendor == "postgresql":
            # A day never rolled up leaves no dead rows behind either.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM analytics_memberday")
        with Stopwatch() as nightly:
            rollups_rebuild(start=last_day, end=last_day, cohorts=False)
        yield Figure("analytics.rollup_one_day", nightly.elapsed, "s")
        with Stopwatch() as again:
            rollups_rebuild(start=last_day, end=last_day, cohorts=False)
        yield Figure("analytics.rollup_one_day.unchanged", again.elapsed, "s")
        # The first run follows a full rebuild that pushed much of the stream out of the caches, and a shared
        # machine's speed swings: the median of three more runs of the same day (removed again each time) is the
        # steadier figure to compare code with.
        repeats = []
        for _ in range(3):
            MemberDay.objects.filter(day=last_day).delete()
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("VACUUM analytics_memberday")
            with Stopwatch() as repeat:
                rollups_rebuild(start=last_day, end=last_day, cohorts=False)
            repeats.append(repeat.elapsed)
        yield Figure("analytics.rollup_one_day.repeat_median", sorted(repeats)[1], "s")
        yield Figure("analytics.rollup_one_day.target", 1, "s")
        with Stopwatch() as recent:
            rollups_refresh_recent()
        yield Figure("analytics.rollup_recent_days", recent.elapsed, "s")
        with Stopwatch() as cohorts:
            cohorts_recompute()
        yield Figure("analytics.cohort_recompute", cohorts.elapsed, "s")
        yield Figure("analytics.cohort_recompute.target", 1 if activities <= 1_000_000 else 10, "s")


# --- reads --------------------------------------------------------------------------------------------------

PAGES = (("dashboard_render", "/analytics/"), ("admin_home_render", "/admin/"),
         ("cohort_page_render", "/analytics/cohorts/"), ("cohort_api", "/api/v1/analytics/cohorts/"))  # fmt: skip


def _query_count(client, url: str) -> int:
    from django.db import connection as current
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(current) as queries:
        response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return len(queries)


def reads(context: Context) -> Iterator[Figure]:
    from django.test import override_settings

    from analytics.models import DaySegment
    from analytics.services.rollups import program_zone, rollups_rebuild_all

    with _data_database(context):
        _members, _activities, anchor = _world(context)
        if not DaySegment.objects.exists():
            rollups_rebuild_all()
        client = _operator_client()
        # "uncached": every render runs every rollup query (the dashboard cache switched off); "cached": repeated
        # renders between two rollup runs, as operators see them.
        # Above 1,000,000 rows the full dashboard (participation and the funnel count distinct members over the
        # member-days of 30 … 90 days) takes seconds per uncached render: it is rendered uncached once, and timed
        # cached; the pages with targets are timed both ways at every scale.
        large = _activities > LARGE_ROWS
        if large:
            with override_settings(ANALYTICS_CACHE_SECONDS=0), Stopwatch() as once:
                client.get(PAGES[0][1])
            yield Figure("analytics.dashboard_render.uncached.once", once.elapsed * 1000, "ms")
        for label, seconds, count in (("uncached", 0, UNCACHED_RENDERS), ("cached", 300, RENDERS)):
            renders = max(RENDERS_MIN, context.size(count))
            with override_settings(ANALYTICS_CACHE_SECONDS=seconds):
                for name, url in PAGES[1 if large and not seconds else 0 : 3]:
                    client.get(url)  # warm-up: templates, caches, connection
                    watch = Stopwatch()
                    with watch:
                        for _ in range(renders):
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
            for _ in range(max(API_CALLS_MIN, context.size(API_CALLS))):
                with watch.lap():
                    client.get("/api/v1/analytics/cohorts/")
        yield Figure("analytics.cohort_api.p50", watch.percentile_ms(50), "ms")
        yield Figure("analytics.cohort_api.p99", watch.percentile_ms(99), "ms")
        yield Figure("analytics.cohort_api.p99.target", 50, "ms")

        # Queries must not grow with the days shown: the same pages over 30 and over 90 days, uncached.
        end = anchor.astimezone(program_zone()).date() - timedelta(days=1)
        with override_settings(ANALYTICS_CACHE_SECONDS=0):
            for name, url in PAGES[1:] if large else PAGES:
                counts = []
                for days in (30, 90):
                    start = end - timedelta(days=days - 1)
                    counts.append(_query_count(client, f"{url}?start={start}&end={end}"))
                if counts[0] != counts[1]:
                    raise RuntimeError(f"{url}: {counts[0]} queries over 30 days, {counts[1]} over 90")
                yield Figure(f"analytics.{name}.queries", counts[0], "queries")


BENCHMARKS = (
    Benchmark("analytics.rollups", rollups),
    Benchmark("analytics.reads", reads),
)
