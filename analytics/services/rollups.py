"""Daily rollups of the activity stream, written set-based (INSERT … SELECT … ON CONFLICT) for any range of days.

Days are the member-local days of `community.Activity.local_date` (an action at 23:30 local time belongs to that
local day); joining and leaving are dated in the program's time zone (`settings.TIME_ZONE`). Rollups are derived
data: rebuilding a range rewrites it from the raw tables, so running a job twice, or late, is always safe.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.models import Cohort, CohortCell, DaySegment, DayVerb, MemberDay
from analytics.selectors.cache import rollups_version_bump
from analytics.services.rollup_loads import _fresh_load, _range_load
from analytics.services.rollup_sql import (
    CHECK_IN_VERB,
    GAPS,
    MAX_REBUILD_DAYS,
    MEMBER_DAY_COLUMNS,
    PREVIOUS_DAY_SQL,
    RETURN_DAYS,
    SEGMENTS,
    _as_date,
    _days_between_sql,
    _distinct_sql,
    _empty,
    _gap_rows_parse,
    _gap_select_sql,
    _in_cohort_weeks_sql,
    _join_day_sql,
    _monday_sql,
    _postgres,
    _verbs_sql,
    _week_active_days_sql,
    _week_start_sql,
    day_bounds,
    program_today,
    program_zone,
)
from community.services import audit_record
from members.models import Member

logger = logging.getLogger(__name__)

ROLLUP_LOCK = 7_200_417  # one advisory lock for every rollup writer


def _serialize_writers() -> None:
    """Two rebuilds at once (the 15-minute job and an operator's button) take turns instead of colliding."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])


# --- the daily rollups --------------------------------------------------------------------------------------


def _member_days_write(start: date, end: date, *, fresh: bool) -> bool:
    """Databases other than PostgreSQL (which loads a range in one statement: `_range_load`, `_fresh_load`): upsert
    the member-days of start … end from the stream, writing only rows that change, then drop the rows of days whose
    activity has gone. `fresh`: the table holds nothing outside the range (and was emptied). Returns whether any row
    was written or removed."""
    table = MemberDay._meta.db_table
    join_sql, _params = _join_day_sql()
    # The previous active day: the member's day before in the range, else their last active day before it.
    earlier = "NULL"
    if not fresh:
        earlier = PREVIOUS_DAY_SQL.format(member="g.member_id", before="%s")
    changed = " OR ".join(_distinct_sql(f"{table}.{column}", f"excluded.{column}") for column in MEMBER_DAY_COLUMNS)
    grouped = f"""
        SELECT a.member_id AS member_id, a.local_date AS day, m.segment AS segment, COUNT(*) AS actions,
               {_verbs_sql()} AS verbs, {join_sql} AS joined_on,
               {_days_between_sql("a.local_date", join_sql)} AS since
        FROM community_activity a JOIN members_member m ON m.id = a.member_id
        WHERE a.local_date >= %s AND a.local_date <= %s
        GROUP BY a.member_id, a.local_date, m.segment, m.joined_at
    """  # noqa: S608
    # Only table names and vendor expressions are interpolated; the dates are parameters.
    sql = f"""
        INSERT INTO {table} (member_id, day, {", ".join(MEMBER_DAY_COLUMNS)})
        SELECT g.member_id, g.day, g.segment, g.actions, g.verbs, g.joined_on, g.since,
               COALESCE(LAG(g.day) OVER (PARTITION BY g.member_id ORDER BY g.day), {earlier}),
               {_week_active_days_sql(member="g.member_id", day="g.day", since="g.since", prev=None)}
        FROM ({grouped}) AS g
        WHERE 1 = 1
    """  # noqa: S608
    if not fresh:
        sql += f"""
            ON CONFLICT (day, member_id) DO UPDATE SET
                {", ".join(f"{column} = excluded.{column}" for column in MEMBER_DAY_COLUMNS)}
            WHERE {changed}
        """
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, end] if fresh else [start, start, end])
        written = cursor.rowcount != 0
        if not fresh:
            cursor.execute(
                f"""
                DELETE FROM {table} WHERE day >= %s AND day <= %s AND NOT EXISTS (
                    SELECT 1 FROM community_activity a
                    WHERE a.member_id = {table}.member_id AND a.local_date = {table}.day
                )
                """,  # noqa: S608
                [start, end],
            )
            written = written or cursor.rowcount != 0
    return written


def _later_prev_days_fix(end: date) -> list[date]:
    """After rewriting a range ending on `end`, the first later member-day of each member may have a new previous
    day, and the later days of a week after joining that began in the range a new number: recompute them where they
    changed. Returns the days of the rows whose previous day changed (their gap counts are recomputed)."""
    table = MemberDay._meta.db_table
    previous = PREVIOUS_DAY_SQL.format(member=f"{table}.member_id", before=f"{table}.day")
    where = (
        f"{table}.day > %s AND ({table}.prev_day IS NULL OR {table}.prev_day <= %s)"
        f" AND {_distinct_sql(f'{table}.prev_day', previous)}"
    )
    since = f"{table}.days_since_join"
    numbered = _week_active_days_sql(member=f"{table}.member_id", day=f"{table}.day", since=since, prev=None)
    renumber = (
        f"{table}.day > %s AND {_in_cohort_weeks_sql(since)} AND {_week_start_sql(f'{table}.day', since)} <= %s"
        f" AND {_distinct_sql(f'{table}.week_active_days', numbered)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT day FROM {table} WHERE {where}", [end, end])  # noqa: S608
        days = sorted(_as_date(row[0]) for row in cursor.fetchall())
        if days:
            cursor.execute(f"UPDATE {table} SET prev_day = {previous} WHERE {where}", [end, end])  # noqa: S608
        cursor.execute(f"UPDATE {table} SET week_active_days = {numbered} WHERE {renumber}", [end, end])  # noqa: S608
    return days


def _day_verbs_write(start: date, end: date, *, fresh: bool) -> None:
    # The segment is the one just written to the member-days: a few days join their member-days, the whole stream
    # joins the (smaller) members table. Only table names are interpolated; the dates are parameters.
    if fresh:
        source = "JOIN members_member d ON d.id = a.member_id"
        dates = [start, end]
    else:
        source = f"JOIN {MemberDay._meta.db_table} d ON d.member_id = a.member_id AND d.day = a.local_date"
        source += " AND d.day >= %s AND d.day <= %s"
        dates = [start, end, start, end]
    sql = f"""
        INSERT INTO {DayVerb._meta.db_table} (day, segment, verb, members, actions)
        SELECT a.local_date, d.segment, a.verb, COUNT(DISTINCT a.member_id), COUNT(*)
        FROM community_activity a {source}
        WHERE a.local_date >= %s AND a.local_date <= %s
        GROUP BY a.local_date, d.segment, a.verb
        ON CONFLICT (day, segment, verb) DO UPDATE SET members = excluded.members, actions = excluded.actions
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, dates)


def _days_by_gap(start: date, end: date) -> dict[tuple[date, str], dict[str, Any]]:
    """Per day and segment, in one pass over the member-days: members active that day by days since their previous
    active day (`gaps`), and the day's actions and check-ins."""
    sql = _gap_select_sql(MemberDay._meta.db_table) + " WHERE day >= %s AND day <= %s GROUP BY 1, 2, 3"
    with connection.cursor() as cursor:
        cursor.execute(sql, [f"%,{CHECK_IN_VERB},%", start, end])
        return _gap_rows_parse(cursor.fetchall())


def _gaps_by_day(start: date, end: date) -> dict[tuple[date, str], list[int]]:
    return {key: row["gaps"] for key, row in _days_by_gap(start, end).items()}


def _active_in_window(gaps: dict[tuple[date, str], list[int]], day: date, segment: str, width: int) -> int:
    """Distinct members active in the `width` days ending on `day`: each is counted once, on their first active
    day in the window, which is the one whose previous active day is before the window."""
    total = 0
    for back in range(width):
        counts = gaps.get((day - timedelta(days=back), segment))
        if counts:
            # A member-day `back` days before `day` is their first in the window when its gap exceeds
            # width - 1 - back days.
            total += sum(counts[width - 1 - back :])
    return total


def _people_by_day(start: date, end: date) -> dict[tuple[date, str], dict[str, int]]:
    """Members in the program at the end of each day, joined and left that day, per segment (three queries)."""
    zone = program_zone()
    removed = Q(left_at__isnull=True) & ~Q(status=Member.Status.ACTIVE)
    first_at = day_bounds(start)[0]
    # Members who joined before the range only count by segment; the days of the others are looked at one by one.
    before = [
        {**row, "on": start - timedelta(days=1)}
        for row in Member.objects.filter(joined_at__lt=first_at)
        .values("segment")
        .annotate(n=Count("pk"), gone=Count("pk", filter=removed))
    ]
    joined = before + list(
        Member.objects.filter(joined_at__gte=first_at)
        .annotate(on=TruncDate("joined_at", tzinfo=zone))
        .values("segment", "on")
        .annotate(n=Count("pk"), gone=Count("pk", filter=removed))
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


def _stored_gaps(start: date, end: date) -> dict[tuple[date, str], list[int]]:
    return {
        (day, segment): list(gaps or [])
        for day, segment, gaps in DaySegment.objects.filter(day__gte=start, day__lte=end).values_list(
            "day", "segment", "active_gaps"
        )
    }


def _day_segments_write(
    start: date, end: date, now: datetime, activity: dict[tuple[date, str], dict[str, Any]] | None = None
) -> None:
    """`activity`: the range's per-day counts when the caller has them already (`_days_by_gap`'s shape)."""
    people = _people_by_day(start, end)
    if activity is None:
        activity = _days_by_gap(start, end)
    # The windows of the range's first days reach back into days rolled up before.
    gaps = {
        **_stored_gaps(start - timedelta(days=GAPS - 1), start - timedelta(days=1)),
        **{key: row["gaps"] for key, row in activity.items()},
    }
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
                    dau=sum(act["gaps"]) if act else 0,
                    wau=_active_in_window(gaps, day, segment, 7),
                    mau=_active_in_window(gaps, day, segment, 30),
                    actions=act.get("actions", 0),
                    check_ins=act.get("check_ins", 0),
                    active_gaps=gaps.get((day, segment), [0] * GAPS),
                    retained=act["retained"] if act else dict.fromkeys(map(str, RETURN_DAYS), 0),
                    computed_at=now,
                )
            )
    DaySegment.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["day", "segment"],
        update_fields=[
            "members", "new_members", "left_members", "dau", "wau", "mau", "actions", "check_ins", "active_gaps",
            "retained", "computed_at",
        ],
    )  # fmt: skip


def _later_windows_refresh(end: date, moved: list[date]) -> None:
    """Days after a rewritten range ending on `end`: the gap counts of the days in `moved` (whose members' previous
    days moved), and the WAU/MAU of every rolled-up later day whose window reaches the range or those days."""
    last = max([end, *moved]) + timedelta(days=GAPS - 1)
    rows = list(DaySegment.objects.filter(day__gt=end, day__lte=last))
    if not rows:
        return
    gaps = _stored_gaps(end - timedelta(days=GAPS - 1), last)
    if moved:
        fresh = _gaps_by_day(moved[0], moved[-1])
        for row in rows:
            if moved[0] <= row.day <= moved[-1]:
                gaps[(row.day, row.segment)] = row.active_gaps = fresh.get((row.day, row.segment), [0] * GAPS)
    for row in rows:
        row.wau = _active_in_window(gaps, row.day, row.segment, 7)
        row.mau = _active_in_window(gaps, row.day, row.segment, 30)
    DaySegment.objects.bulk_update(rows, ["active_gaps", "wau", "mau"], batch_size=2000)


def _tune_session() -> None:
    """Rebuilds sort and hash millions of rows: give this transaction's statements more memory than the server's
    default for a request (a session setting, gone at commit)."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")
            # Compiling plans to machine code costs more than it saves on statements this size.
            cursor.execute("SET LOCAL jit = off")


def _range_is_everything(start: date, end: date) -> bool:
    # Two probes of the day index (one condition with NOT or OR would read the whole table when all is inside).
    return not (MemberDay.objects.filter(day__lt=start).exists() or MemberDay.objects.filter(day__gt=end).exists())


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
        _tune_session()
        if _member_days_lost(start):
            # A short rebuild would leave the earlier days without member-days (the cohort table, retention and
            # the KPIs of a set of members read them): rebuild
            # everything, this range included.
            first, last = _everything()
            start, end = min(start, first), max(end, last)
        # Rebuilding every rolled-up day (the first build, or a full rebuild) empties the table and loads it in one
        # pass; a shorter range rewrites only the rows that change.
        fresh = _range_is_everything(start, end)
        DayVerb.objects.filter(day__gte=start, day__lte=end).delete()
        activity, later = None, []
        if fresh:
            _empty(MemberDay)
        if fresh and _postgres():
            activity = _fresh_load(start, end)
        elif fresh:
            _member_days_write(start, end, fresh=True)
            _day_verbs_write(start, end, fresh=True)
        else:
            if _postgres():
                activity, later = _range_load(start, end)
            else:
                changed = _member_days_write(start, end, fresh=False)
                _day_verbs_write(start, end, fresh=False)
                # Later previous days can only move when some member-day of the range was written or removed.
                if changed:
                    later = _later_prev_days_fix(end)
        _day_segments_write(start, end, now, activity)
        _later_windows_refresh(end, later)
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


def _everything() -> tuple[date, date]:
    """From the first recorded day (or join) to tomorrow, within MAX_REBUILD_DAYS."""
    from community.models import Activity

    first = Activity.objects.order_by("local_date").values_list("local_date", flat=True).first()
    joined = Member.objects.order_by("joined_at").values_list("joined_at", flat=True).first()
    starts = [d for d in (first, joined.astimezone(program_zone()).date() if joined else None) if d is not None]
    end = program_today() + timedelta(days=1)
    start = min(starts) if starts else program_today()
    return max(start, end - timedelta(days=MAX_REBUILD_DAYS)), end


def rollups_rebuild_all(*, actor: Any | None = None) -> dict[str, Any]:
    """Everything from the first recorded day to today."""
    start, end = _everything()
    return rollups_rebuild(start=start, end=end, actor=actor)


def _member_days_lost(start: date) -> bool:
    """Days before `start` were rolled up with active members, yet no member-day is left: the unlogged member-day
    table was emptied (PostgreSQL does so after a crash; a restored dump may lack it)."""
    return not MemberDay.objects.exists() and DaySegment.objects.filter(day__lt=start, dau__gt=0).exists()


# --- cohorts ------------------------------------------------------------------------------------------------


def cohorts_recompute() -> dict[str, int]:
    """Rewrite the weekly cohort tables: the sizes from the members, every cell from the member-days of the first
    13 weeks after joining. A member with at least n active days in a week has exactly one member-day numbered n
    there (`MemberDay.week_active_days`), so a cell "at least n days" is a count of member-days, read from the cohort
    index by parallel workers, with no grouping by member."""
    join_sql, _params = _join_day_sql()
    with transaction.atomic(), connection.cursor() as cursor:
        _serialize_writers()
        _tune_session()
        _empty(CohortCell, Cohort)
        # Each member's join day is converted once (PostgreSQL would fold the subquery into the grouping, and
        # convert it again for each use; SQLite knows no OFFSET without a LIMIT).
        keep = "OFFSET 0" if _postgres() else ""
        cursor.execute(
            f"""
            INSERT INTO {Cohort._meta.db_table} (week, size)
            SELECT {_monday_sql("j.joined_on")}, COUNT(*)
            FROM (SELECT {join_sql} AS joined_on FROM members_member m WHERE m.joined_at IS NOT NULL {keep}) AS j
            GROUP BY 1
            """  # noqa: S608
        )
        # Counted per join day first (about a hundred groups a week), then added up per cohort week.
        cursor.execute(
            f"""
            INSERT INTO {CohortCell._meta.db_table} (cohort_week, week_index, min_active_days, members)
            SELECT {_monday_sql("c.joined_on")}, c.week_index, c.active_days, SUM(c.n)
            FROM (
                SELECT d.joined_on AS joined_on, d.days_since_join / 7 AS week_index,
                       d.week_active_days AS active_days, COUNT(*) AS n
                FROM {MemberDay._meta.db_table} d
                WHERE {_in_cohort_weeks_sql("d.days_since_join")} AND d.week_active_days IS NOT NULL
                GROUP BY 1, 2, 3
            ) AS c
            GROUP BY 1, 2, 3
            """  # noqa: S608
        )
    rollups_version_bump()
    return {"cohorts": Cohort.objects.count(), "cells": CohortCell.objects.count()}


def _monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())
