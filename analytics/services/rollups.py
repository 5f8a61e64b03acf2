"""Daily rollups of the activity stream, written set-based (INSERT … SELECT … ON CONFLICT) for any range of days.

Days are the member-local days of `community.Activity.local_date` (an action at 23:30 local time belongs to that
local day); joining and leaving are dated in the program's time zone (`settings.TIME_ZONE`). Rollups are derived
data: rebuilding a range rewrites it from the raw tables, so running a job twice, or late, is always safe.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from analytics.models import Cohort, CohortCell, DaySegment, DayVerb, MemberDay, MemberWeek
from analytics.selectors.cache import rollups_version_bump
from community.services import audit_record
from members.models import Member

logger = logging.getLogger(__name__)

SEGMENTS = tuple(Member.Segment.values)
COHORT_WEEKS = 13  # columns week 0 … 12
MAX_MIN_ACTIVE_DAYS = 7
CHECK_IN_VERB = "checked_in"
MAX_REBUILD_DAYS = 3700


def program_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def program_today() -> date:
    return timezone.now().astimezone(program_zone()).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the program's time zone."""
    zone = program_zone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


# --- vendor SQL: the few expressions PostgreSQL and SQLite spell differently ---------------------------------


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _join_day_sql() -> tuple[str, list[Any]]:
    """The member's join day in the program's time zone, as SQL over `m.joined_at` (no parameters: the zone name
    is validated at start-up and quoted here, so the expression can be repeated anywhere in a statement)."""
    if _postgres():
        zone = settings.TIME_ZONE.replace("'", "''")
        return f"(m.joined_at AT TIME ZONE '{zone}')::date", []
    # SQLite stores UTC text; the program zone's current offset is close enough for a development database.
    offset = timezone.now().astimezone(program_zone()).utcoffset() or timedelta()
    return f"date(m.joined_at, '{int(offset.total_seconds() // 60):+d} minutes')", []


def _days_between_sql(later: str, earlier: str) -> str:
    if _postgres():
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def _verbs_sql() -> str:
    if _postgres():
        return "',' || string_agg(DISTINCT a.verb, ',' ORDER BY a.verb) || ','"
    return "',' || group_concat(DISTINCT a.verb) || ','"


def _monday_sql(day: str) -> str:
    if _postgres():
        return f"({day} - (EXTRACT(ISODOW FROM {day})::int - 1))"
    return f"date({day}, 'weekday 0', '-6 days')"


ROLLUP_LOCK = 7_200_417  # one advisory lock for every rollup writer


def _serialize_writers() -> None:
    """Two rebuilds at once (the 15-minute job and an operator's button) take turns instead of colliding."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])


# --- the daily rollups --------------------------------------------------------------------------------------


def _member_days_write(start: date, end: date) -> None:
    join_sql, _params = _join_day_sql()
    # Only table names and vendor expressions are interpolated; the dates are parameters.
    sql = f"""
        INSERT INTO {MemberDay._meta.db_table}
            (member_id, day, segment, actions, verbs, joined_on, days_since_join)
        SELECT a.member_id, a.local_date, m.segment, COUNT(*), {_verbs_sql()},
               {join_sql}, {_days_between_sql("a.local_date", join_sql)}
        FROM community_activity a JOIN members_member m ON m.id = a.member_id
        WHERE a.local_date >= %s AND a.local_date <= %s
        GROUP BY a.member_id, a.local_date, m.segment, m.joined_at
        ON CONFLICT (member_id, day) DO UPDATE SET
            segment = excluded.segment, actions = excluded.actions, verbs = excluded.verbs,
            joined_on = excluded.joined_on, days_since_join = excluded.days_since_join
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, end])


def _day_verbs_write(start: date, end: date) -> None:
    # Only table names and vendor expressions are interpolated; the dates are parameters.
    sql = f"""
        INSERT INTO {DayVerb._meta.db_table} (day, segment, verb, members, actions)
        SELECT a.local_date, m.segment, a.verb, COUNT(DISTINCT a.member_id), COUNT(*)
        FROM community_activity a JOIN members_member m ON m.id = a.member_id
        WHERE a.local_date >= %s AND a.local_date <= %s
        GROUP BY a.local_date, m.segment, a.verb
        ON CONFLICT (day, segment, verb) DO UPDATE SET members = excluded.members, actions = excluded.actions
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, end])


def _add_days_sql(day: str, days: int) -> str:
    if _postgres():
        return f"({day} + {int(days)})"
    return f"date({day}, '+{int(days)} days')"


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _active_in_windows(start: date, end: date, width: int) -> dict[tuple[date, str], int]:
    """Distinct members active in the `width` days ending on each day start … end, per segment, in one query.

    Each member-day covers [day, day + width - 1], cut short where the member's next active day begins, so one
    member's intervals never overlap; the count on a day is then a running sum of interval starts and ends.
    """
    stop = f"MIN({_add_days_sql('x.day', width)}, COALESCE(x.next_day, {_add_days_sql('x.day', width)}))"
    if _postgres():
        stop = stop.replace("MIN(", "LEAST(", 1)
    sql = f"""
        WITH x AS (
            SELECT m.segment AS segment, d.day AS day,
                   LEAD(d.day) OVER (PARTITION BY d.member_id ORDER BY d.day) AS next_day
            FROM {MemberDay._meta.db_table} d JOIN members_member m ON m.id = d.member_id
            WHERE d.day >= %s AND d.day <= %s
        )
        SELECT segment, day, COUNT(*) FROM x GROUP BY segment, day
        UNION ALL
        SELECT segment, {stop}, -COUNT(*) FROM x GROUP BY segment, {stop}
    """  # noqa: S608
    deltas: dict[str, dict[date, int]] = {segment: {} for segment in SEGMENTS}
    with connection.cursor() as cursor:
        cursor.execute(sql, [start - timedelta(days=width - 1), end])
        for segment, day, delta in cursor.fetchall():
            per_day = deltas.setdefault(segment, {})
            per_day[_as_date(day)] = per_day.get(_as_date(day), 0) + delta
    counts: dict[tuple[date, str], int] = {}
    for segment, per_day in deltas.items():
        running = sum(delta for day, delta in per_day.items() if day < start)
        day = start
        while day <= end:
            running += per_day.get(day, 0)
            counts[(day, segment)] = running
            day += timedelta(days=1)
    return counts


def _people_by_day(start: date, end: date) -> dict[tuple[date, str], dict[str, int]]:
    """Members in the program at the end of each day, joined and left that day, per segment (three queries)."""
    zone = program_zone()
    joined = (
        Member.objects.annotate(on=TruncDate("joined_at", tzinfo=zone))
        .values("segment", "on")
        .annotate(n=Count("pk"), gone=Count("pk", filter=Q(left_at__isnull=True) & ~Q(status=Member.Status.ACTIVE)))
    )
    left = (
        Member.objects.filter(left_at__isnull=False)
        .annotate(on=TruncDate("left_at", tzinfo=zone))
        .values("segment", "on")
        .annotate(n=Count("pk"))
    )
    result: dict[tuple[date, str], dict[str, int]] = {}
    for segment in SEGMENTS:
        for offset in range((end - start).days + 1):
            result[(start + timedelta(days=offset), segment)] = {"members": 0, "new_members": 0, "left_members": 0}
    base = dict.fromkeys(SEGMENTS, 0)
    joins: dict[tuple[date, str], tuple[int, int]] = {}
    for row in joined:
        on = _as_date(row["on"])
        # A member who is gone without a leaving date (removed by hand) is never counted in the program.
        if on < start:
            base[row["segment"]] = base.get(row["segment"], 0) + row["n"] - row["gone"]
        else:
            joins[(on, row["segment"])] = (row["n"], row["n"] - row["gone"])
    leaves: dict[tuple[date, str], int] = {}
    for row in left:
        on = _as_date(row["on"])
        if on < start:
            base[row["segment"]] = base.get(row["segment"], 0) - row["n"]
        else:
            leaves[(on, row["segment"])] = row["n"]
    for segment in SEGMENTS:
        running = base.get(segment, 0)
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            new, staying = joins.get((day, segment), (0, 0))
            gone = leaves.get((day, segment), 0)
            running += staying - gone
            result[(day, segment)] = {"members": running, "new_members": new, "left_members": gone}
    return result


def _day_segments_write(start: date, end: date, now: datetime) -> None:
    people = _people_by_day(start, end)
    activity = {
        (row["day"], row["segment"]): row
        for row in MemberDay.objects.filter(day__gte=start, day__lte=end)
        .values("day", "segment")
        .annotate(
            dau=Count("pk"),
            actions=Coalesce(Sum("actions"), 0),
            check_ins=Count("pk", filter=Q(verbs__contains=f",{CHECK_IN_VERB},")),
        )
    }
    wau = _active_in_windows(start, end, 7)
    mau = _active_in_windows(start, end, 30)
    rows = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        for segment in SEGMENTS:
            act = activity.get((day, segment), {})
            rows.append(
                DaySegment(
                    day=day,
                    segment=segment,
                    **people[(day, segment)],
                    dau=act.get("dau", 0),
                    wau=wau.get((day, segment), 0),
                    mau=mau.get((day, segment), 0),
                    actions=act.get("actions", 0),
                    check_ins=act.get("check_ins", 0),
                    computed_at=now,
                )
            )
    DaySegment.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["day", "segment"],
        update_fields=[
            "members", "new_members", "left_members", "dau", "wau", "mau", "actions", "check_ins", "computed_at",
        ],
    )  # fmt: skip


def rollups_rebuild(*, start: date, end: date, actor: Any | None = None, cohorts: bool = True) -> dict[str, Any]:
    """Rewrite every daily rollup for the local days start … end (inclusive) from the raw stream.

    Rows of days that no longer have activity are removed first, so a rebuild is exact, idempotent and safe to
    run for any range. With `cohorts` the cohort tables are recomputed afterwards (they span every day).
    """
    if end < start:
        raise ValueError("end must not be before start.")
    if (end - start).days > MAX_REBUILD_DAYS:
        raise ValueError("Rebuild at most ten years at once.")
    now = timezone.now()
    with transaction.atomic():
        _serialize_writers()
        MemberDay.objects.filter(day__gte=start, day__lte=end).delete()
        DayVerb.objects.filter(day__gte=start, day__lte=end).delete()
        _member_days_write(start, end)
        _day_verbs_write(start, end)
        _day_segments_write(start, end, now)
        if cohorts:
            cohorts_recompute()
        summary = {"start": start.isoformat(), "end": end.isoformat(), "days": (end - start).days + 1}
        rollups_version_bump()
        if actor is not None:
            audit_record(actor=actor, action="analytics.rollups_rebuild", after=summary)
    return summary


def rollups_range_default() -> tuple[date, date]:
    """What the scheduled job refreshes: yesterday and today in the program's zone, plus a day either side, since
    members far east or west of the program are on another local day."""
    today = program_today()
    return today - timedelta(days=2), today + timedelta(days=1)


def rollups_refresh_recent() -> dict[str, Any]:
    """The days around today; the cohort tables wait for the nightly run (they span every day)."""
    start, end = rollups_range_default()
    return rollups_rebuild(start=start, end=end, cohorts=False)


def rollups_rebuild_all(*, actor: Any | None = None) -> dict[str, Any]:
    """Everything from the first recorded day to today."""
    from community.models import Activity

    first = Activity.objects.order_by("local_date").values_list("local_date", flat=True).first()
    joined = Member.objects.order_by("joined_at").values_list("joined_at", flat=True).first()
    starts = [d for d in (first, joined.astimezone(program_zone()).date() if joined else None) if d is not None]
    end = program_today() + timedelta(days=1)
    start = min(starts) if starts else program_today()
    return rollups_rebuild(start=max(start, end - timedelta(days=MAX_REBUILD_DAYS)), end=end, actor=actor)


# --- cohorts ------------------------------------------------------------------------------------------------


def cohorts_recompute() -> dict[str, int]:
    """Rewrite the weekly cohort tables from the member-day rollup: sizes, member-weeks and every cell."""
    join_sql, _params = _join_day_sql()
    with transaction.atomic(), connection.cursor() as cursor:
        _serialize_writers()
        CohortCell.objects.all().delete()
        MemberWeek.objects.all().delete()
        Cohort.objects.all().delete()
        cursor.execute(
            f"""
            INSERT INTO {Cohort._meta.db_table} (week, size)
            SELECT {_monday_sql(join_sql)}, COUNT(*) FROM members_member m WHERE m.joined_at IS NOT NULL
            GROUP BY 1
            """  # noqa: S608
        )
        cursor.execute(
            f"""
            INSERT INTO {MemberWeek._meta.db_table} (member_id, cohort_week, week_index, active_days)
            SELECT d.member_id, {_monday_sql("d.joined_on")}, d.days_since_join / 7, COUNT(*)
            FROM {MemberDay._meta.db_table} d
            WHERE d.days_since_join >= 0 AND d.days_since_join < %s
            GROUP BY d.member_id, d.joined_on, d.days_since_join / 7
            """,  # noqa: S608
            [COHORT_WEEKS * 7],
        )
        thresholds = ", ".join(f"({n})" for n in range(1, MAX_MIN_ACTIVE_DAYS + 1))
        cursor.execute(
            f"""
            INSERT INTO {CohortCell._meta.db_table} (cohort_week, week_index, min_active_days, members)
            SELECT w.cohort_week, w.week_index, n.column1, COUNT(*)
            FROM {MemberWeek._meta.db_table} w JOIN (VALUES {thresholds}) AS n ON w.active_days >= n.column1
            WHERE w.week_index >= 0
            GROUP BY w.cohort_week, w.week_index, n.column1
            """  # noqa: S608
        )
    rollups_version_bump()
    return {"cohorts": Cohort.objects.count(), "cells": CohortCell.objects.count()}


def _monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())
