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
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
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
RETURN_DAYS = (1, 7, 30)  # DaySegment.retained: members active N days after their join day
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


def _distinct_sql(left: str, right: str) -> str:
    return f"{left} IS DISTINCT FROM {right}" if _postgres() else f"{left} IS NOT {right}"


MEMBER_DAY_COLUMNS = ("segment", "actions", "verbs", "joined_on", "days_since_join", "prev_day")


def _member_days_write(start: date, end: date, *, fresh: bool) -> bool:
    """Databases other than PostgreSQL (which loads a range in one statement: `_range_load`, `_fresh_load`): upsert
    the member-days of start … end from the stream, writing only rows that change, then drop the rows of days whose
    activity has gone. `fresh`: the table holds nothing outside the range (and was emptied). Returns whether any row
    was written or removed."""
    table = MemberDay._meta.db_table
    join_sql, _params = _join_day_sql()
    # The previous active day: the member's day before in the range, else their last rolled-up day before it.
    earlier = "NULL"
    if not fresh:
        earlier = f"(SELECT MAX(p.day) FROM {table} p WHERE p.member_id = g.member_id AND p.day < %s)"  # noqa: S608
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
               COALESCE(LAG(g.day) OVER (PARTITION BY g.member_id ORDER BY g.day), {earlier})
        FROM ({grouped}) AS g
        WHERE 1 = 1
    """  # noqa: S608
    if not fresh:
        sql += f"""
            ON CONFLICT (member_id, day) DO UPDATE SET
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
    day: recompute it where it changed. Returns the days of the rows changed (their gap counts are recomputed)."""
    table = MemberDay._meta.db_table
    previous = f"(SELECT MAX(p.day) FROM {table} p WHERE p.member_id = {table}.member_id AND p.day < {table}.day)"  # noqa: S608
    where = (
        f"{table}.day > %s AND ({table}.prev_day IS NULL OR {table}.prev_day <= %s)"
        f" AND {_distinct_sql(f'{table}.prev_day', previous)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT day FROM {table} WHERE {where}", [end, end])  # noqa: S608
        days = sorted(_as_date(row[0]) for row in cursor.fetchall())
        if days:
            cursor.execute(f"UPDATE {table} SET prev_day = {previous} WHERE {where}", [end, end])  # noqa: S608
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


def _add_days_sql(day: str, days: int) -> str:
    if _postgres():
        return f"({day} + {int(days)})"
    return f"date({day}, '+{int(days)} days')"


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


GAPS = 30  # active_gaps has one count per gap of 1 … 29 days, then one for 30 days or more (or none)


def _gap_select_sql(source: str) -> str:
    """Per day and segment of the member-day rows of `source` (a table or a CTE with the member-day columns, the
    days since joining as `days_since_join`): members by days since their previous active day, actions, members
    who checked in, members active N days after joining. One parameter: the check-in pattern."""
    gap = f"CASE WHEN prev_day IS NULL THEN {GAPS} ELSE {_days_between_sql('day', 'prev_day')} END"
    retained = ", ".join(f"SUM(CASE WHEN days_since_join = {n} THEN 1 ELSE 0 END) AS retained_{n}" for n in RETURN_DAYS)
    return f"""
        SELECT day, segment, CASE WHEN {gap} > {GAPS} THEN {GAPS} ELSE {gap} END AS gap, COUNT(*) AS members,
               SUM(actions) AS actions, SUM(CASE WHEN verbs LIKE %s THEN 1 ELSE 0 END) AS check_ins,
               {retained}
        FROM {source}
    """  # noqa: S608


def _gap_rows_parse(rows: list[tuple[Any, ...]]) -> dict[tuple[date, str], dict[str, Any]]:
    result: dict[tuple[date, str], dict[str, Any]] = {}
    for day, segment, days, count, actions, check_ins, *retained in rows:
        row = result.setdefault(
            (_as_date(day), segment),
            {
                "gaps": [0] * GAPS,
                "actions": 0,
                "check_ins": 0,
                "retained": dict.fromkeys(map(str, RETURN_DAYS), 0),
            },
        )
        row["gaps"][int(days) - 1] = count
        row["actions"] += int(actions or 0)
        row["check_ins"] += int(check_ins or 0)
        for n, value in zip(RETURN_DAYS, retained, strict=True):
            row["retained"][str(n)] += int(value or 0)
    return result


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


# --- member-weeks (the cohort table's base) -----------------------------------------------------------------

COHORT_DAYS = COHORT_WEEKS * 7


def _member_weeks_select_sql(source: str) -> str:
    """Member-weeks of the member-day rows of `source` (columns member_id, joined_on, days_since_join): one row per
    member and week 0 … 12 after joining with the active days that week. Grouped by member and week (the join day
    is the member's, so one per group)."""
    return f"""
        SELECT member_id, {_monday_sql("MIN(joined_on)")}, days_since_join / 7, COUNT(*)
        FROM {source}
        WHERE days_since_join >= 0 AND days_since_join < {COHORT_DAYS}
    """  # noqa: S608


def member_weeks_rebuild() -> None:
    """Rewrite every member-week from the member-day rollup (a full rebuild does this in its own load)."""
    table = MemberWeek._meta.db_table
    with connection.cursor() as cursor:
        _empty(MemberWeek)
        # Written in (member, week) order, so the unique index grows at its end instead of at random places.
        cursor.execute(
            f"INSERT INTO {table} (member_id, cohort_week, week_index, active_days) "
            + _member_weeks_select_sql(MemberDay._meta.db_table)
            + " GROUP BY member_id, days_since_join / 7 ORDER BY member_id, days_since_join / 7"
        )


# Per transaction: the members whose member-days a short rebuild wrote or removed, and their new member-days in
# the range by week after joining.
TOUCHED = "analytics_touched"
TOUCHED_WEEKS = "analytics_touched_weeks"


def _touched_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {TOUCHED} (member_id bigint, joined_on date, removed boolean)"
            " ON COMMIT DELETE ROWS"
        )
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {TOUCHED_WEEKS} (member_id bigint, week_index integer, n integer)"
            " ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {TOUCHED}, {TOUCHED_WEEKS}")


def _member_weeks_refresh(start: date, end: date) -> None:
    """Rewrite the member-weeks overlapping start … end of the members whose member-days there were written or
    removed (`TOUCHED`, `TOUCHED_WEEKS`, filled by `_range_load`): only those can have changed. Each is written
    only when its count changed."""
    if not _postgres():
        member_weeks_rebuild()  # development databases: small enough to recompute
        return
    weeks, days = MemberWeek._meta.db_table, MemberDay._meta.db_table
    # Week k of a member who joined on day j is j + 7k … j + 7k + 6; it overlaps the range for k from
    # ceil((start - j - 6) / 7) to floor((end - j) / 7), within weeks 0 … 12.
    overlapping = f"""
        FROM (SELECT DISTINCT member_id, joined_on FROM {TOUCHED} WHERE removed OR NOT %(only_removed)s) AS t
        CROSS JOIN LATERAL generate_series(
            GREATEST(0, CEIL((%(start)s - t.joined_on - 6) / 7.0)::integer),
            LEAST({COHORT_WEEKS - 1}, FLOOR((%(end)s - t.joined_on) / 7.0)::integer)
        ) AS k (week_index)
        CROSS JOIN LATERAL (SELECT t.joined_on + 7 * k.week_index AS first, t.joined_on + 7 * k.week_index + 6 AS last)
            AS span
        LEFT JOIN {TOUCHED_WEEKS} r ON r.member_id = t.member_id AND r.week_index = k.week_index
        CROSS JOIN LATERAL (
            SELECT COUNT(*) AS n FROM {days} d WHERE d.member_id = t.member_id
              AND d.day >= span.first AND d.day <= LEAST(span.last, %(before)s)
        ) AS b
        CROSS JOIN LATERAL (
            SELECT COUNT(*) AS n FROM {days} d WHERE d.member_id = t.member_id
              AND d.day >= GREATEST(span.first, %(after)s) AND d.day <= span.last
        ) AS a
        CROSS JOIN LATERAL (SELECT COALESCE(r.n, 0) + b.n + a.n AS n) AS c
    """  # noqa: S608
    # The week's days in the range are counted from what the rebuild just wrote; only its days before and after
    # the range are read, through the index alone (older rows, on pages the vacuum has marked all-visible).
    params = {"start": start, "end": end, "before": start - timedelta(days=1), "after": end + timedelta(days=1),
              "only_removed": False}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TOUCHED}, {TOUCHED_WEEKS}")
        cursor.execute(
            f"""
            INSERT INTO {weeks} AS w (member_id, cohort_week, week_index, active_days)
            SELECT t.member_id, {_monday_sql("t.joined_on")}, k.week_index, c.n {overlapping} WHERE c.n > 0
            ON CONFLICT (member_id, week_index) DO UPDATE
            SET cohort_week = excluded.cohort_week, active_days = excluded.active_days
            WHERE w.active_days <> excluded.active_days OR w.cohort_week <> excluded.cohort_week
            """,  # noqa: S608
            params,
        )
        # Only a member with a member-day removed can have a week with none left.
        cursor.execute(
            f"""
            DELETE FROM {weeks} w USING (SELECT t.member_id, k.week_index {overlapping} WHERE c.n = 0) AS empty
            WHERE w.member_id = empty.member_id AND w.week_index = empty.week_index
            """,  # noqa: S608
            {**params, "only_removed": True},
        )


# --- a full rebuild on PostgreSQL: one sort of the stream, every table loaded from it, indexes built after ------


def _indexes_drop(model: Any) -> list[str]:
    """Drop a table's secondary indexes and unique constraints (not its primary key); returns the statements that
    create them again. Building an index once over a loaded table is many times cheaper than keeping it up to
    date row by row through millions of inserts."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND contype = 'u' ORDER BY conname",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY i.relname",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _definition in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    return [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in constraints] + [
        definition for _name, definition in indexes
    ]


# The member-days of the range in (member, day) order from one sort of the stream (the previous active day is the
# row before), with their verbs as arrays for the per-verb counts; every table of the rebuild is loaded from it.
# The verbs are aggregated in the sorted subquery's order (byte order, "C": the cheap comparison, and the order of
# the database's UTF-8 collation); the two arrays are aggregated over the same rows, so their items stay aligned.
SOURCE_SQL = """
    SELECT x.member_id, x.day, m.segment, x.actions, x.verbs, x.verb_list, x.verb_counts, {prev} AS prev_day,
           {join} AS joined_on, (x.day - {join}) AS days_since_join
    FROM (
        SELECT v.member_id, v.local_date AS day, SUM(v.n)::integer AS actions,
               ',' || string_agg(v.verb, ',') || ',' AS verbs,
               array_agg(v.verb) AS verb_list, array_agg(v.n) AS verb_counts,
               LAG(v.local_date) OVER (PARTITION BY v.member_id ORDER BY v.local_date) AS prev_day
        FROM (
            SELECT a.member_id, a.local_date, a.verb COLLATE "C" AS verb, COUNT(*) AS n FROM community_activity a
            WHERE a.local_date >= %(start)s AND a.local_date <= %(end)s
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ) AS v
        GROUP BY v.member_id, v.local_date
    ) AS x {members}
"""
# A full rebuild reads every member: one hash of the members table.
FRESH_MEMBERS_SQL = "JOIN members_member m ON m.id = x.member_id"
# A few days read a fraction of them: each looked up by key (OFFSET 0 keeps the lookup from being turned into a
# join that hashes the whole table).
FEW_MEMBERS_SQL = (
    "CROSS JOIN LATERAL (SELECT m.segment, m.joined_at FROM members_member m WHERE m.id = x.member_id OFFSET 0) AS m"
)


FRESH_LOAD_SQL = """
    WITH g AS MATERIALIZED ({source}),
    member_days AS (
        INSERT INTO {member_days} (member_id, day, segment, actions, verbs, joined_on, days_since_join, prev_day)
        SELECT member_id, day, segment, actions, verbs, joined_on, days_since_join, prev_day FROM g
    ),
    day_verbs AS (
        INSERT INTO {day_verbs} (day, segment, verb, members, actions)
        SELECT day, segment, verb, COUNT(*), SUM(n)
        FROM (SELECT day, segment, unnest(verb_list) AS verb, unnest(verb_counts) AS n FROM g) AS u
        GROUP BY day, segment, verb
    ),
    member_weeks AS (
        INSERT INTO {member_weeks} (member_id, cohort_week, week_index, active_days)
        {weeks} GROUP BY member_id, days_since_join / 7
    )
    {gaps} GROUP BY 1, 2, 3
"""


# A shorter range, in one statement: its member-days upserted where they changed (the previous active day of a
# member's first day in the range is their last rolled-up day before it), the range's member-days whose activity has
# gone removed, its day-verbs written, and the per-day counts returned with what was removed and how many were
# written. The new and the removed rows are disjoint, so the two writes to the member-days never meet.
RANGE_LOAD_SQL = """
    WITH g AS MATERIALIZED ({source}),
    gone AS (
        DELETE FROM {member_days} d WHERE d.day >= %(start)s AND d.day <= %(end)s
          AND NOT EXISTS (SELECT 1 FROM g WHERE g.member_id = d.member_id AND g.day = d.day)
        RETURNING d.member_id, d.joined_on
    ),
    written AS (
        INSERT INTO {member_days} AS t (member_id, day, segment, actions, verbs, joined_on, days_since_join, prev_day)
        SELECT member_id, day, segment, actions, verbs, joined_on, days_since_join, prev_day FROM g
        ON CONFLICT (member_id, day) DO UPDATE SET {update} WHERE {changed}
        RETURNING t.member_id, t.joined_on
    ),
    touched AS (
        INSERT INTO {touched} (member_id, joined_on, removed)
        SELECT member_id, joined_on, false FROM written UNION ALL SELECT member_id, joined_on, true FROM gone
    ),
    touched_weeks AS (
        INSERT INTO {touched_weeks} (member_id, week_index, n)
        SELECT member_id, days_since_join / 7, COUNT(*) FROM g
        WHERE days_since_join >= 0 AND days_since_join < {cohort_days}
          AND member_id IN (SELECT member_id FROM written UNION SELECT member_id FROM gone)
        GROUP BY 1, 2
    ),
    day_verbs AS (
        INSERT INTO {day_verbs} (day, segment, verb, members, actions)
        SELECT day, segment, verb, COUNT(*), SUM(n)
        FROM (SELECT day, segment, unnest(verb_list) AS verb, unnest(verb_counts) AS n FROM g) AS u
        GROUP BY day, segment, verb
    )
    SELECT (SELECT COUNT(*) FROM written) + (SELECT COUNT(*) FROM gone),
           (SELECT json_agg(counts) FROM ({gaps} GROUP BY 1, 2, 3) AS counts)
"""


def _range_load(start: date, end: date) -> tuple[bool, dict[tuple[date, str], dict[str, Any]]]:
    """Rewrite the member-days and day-verbs of start … end (PostgreSQL, day-verbs emptied for the range), noting
    the members whose member-days were written or removed in `TOUCHED`. Returns whether a member-day was written or
    removed, and the per-day counts of `_days_by_gap`."""
    join_sql, _params = _join_day_sql()
    table = MemberDay._meta.db_table
    earlier = f"(SELECT MAX(p.day) FROM {table} p WHERE p.member_id = x.member_id AND p.day < %(start)s)"  # noqa: S608
    sql = RANGE_LOAD_SQL.format(
        source=SOURCE_SQL.format(join=join_sql, prev=f"COALESCE(x.prev_day, {earlier})", members=FEW_MEMBERS_SQL),
        member_days=table,
        day_verbs=DayVerb._meta.db_table,
        touched=TOUCHED,
        touched_weeks=TOUCHED_WEEKS,
        cohort_days=COHORT_DAYS,
        update=", ".join(f"{column} = excluded.{column}" for column in MEMBER_DAY_COLUMNS),
        changed=" OR ".join(_distinct_sql(f"t.{column}", f"excluded.{column}") for column in MEMBER_DAY_COLUMNS),
        gaps=_gap_select_sql("g").replace("%s", "%(check_in)s"),
    )
    _touched_tables()
    with connection.cursor() as cursor:
        cursor.execute(sql, {"start": start, "end": end, "check_in": f"%,{CHECK_IN_VERB},%"})
        changed, counts = cursor.fetchone()
    return bool(changed), _gap_rows_parse([tuple(row.values()) for row in counts or []])


def _fresh_load(start: date, end: date) -> dict[tuple[date, str], dict[str, Any]]:
    """Load member-days, day-verbs and member-weeks of start … end into their emptied tables in one statement
    (PostgreSQL); returns the per-day counts of `_days_by_gap`, computed in the same pass."""
    join_sql, _params = _join_day_sql()
    rebuild_indexes = _indexes_drop(MemberDay) + _indexes_drop(MemberWeek)
    sql = FRESH_LOAD_SQL.format(
        source=SOURCE_SQL.format(join=join_sql, prev="x.prev_day", members=FRESH_MEMBERS_SQL),
        member_days=MemberDay._meta.db_table,
        day_verbs=DayVerb._meta.db_table,
        member_weeks=MemberWeek._meta.db_table,
        weeks=_member_weeks_select_sql("g"),
        gaps=_gap_select_sql("g").replace("%s", "%(check_in)s"),
    )
    with connection.cursor() as cursor:
        # One statement sorts the stream and groups millions of member-days and member-weeks: in memory rather than
        # through temporary files (a handful of sorts and hashes of this transaction, not of every connection).
        cursor.execute("SET LOCAL work_mem = '1GB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        # The whole stream is read: in one sequential pass, sorted once, rather than member by member through an
        # index (random reads of the whole table), which is what the planner picks when the table looks cached.
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(sql, {"start": start, "end": end, "check_in": f"%,{CHECK_IN_VERB},%"})
        activity = _gap_rows_parse(cursor.fetchall())
        cursor.execute("SET LOCAL enable_indexscan = on")
        cursor.execute("SET LOCAL enable_bitmapscan = on")
        for statement in rebuild_indexes:
            cursor.execute(statement)
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # The tables were just reloaded: the statements after this one plan with their new statistics.
        cursor.execute(f"ANALYZE {MemberDay._meta.db_table}, {MemberWeek._meta.db_table}")
    return activity


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


def _empty(*models_: Any) -> None:
    """Remove every row of these tables (derived data) in this transaction."""
    with connection.cursor() as cursor:
        if _postgres():
            cursor.execute("TRUNCATE " + ", ".join(model._meta.db_table for model in models_))
        else:
            for model in models_:
                cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608


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
        # Rebuilding every rolled-up day (the first build, or a full rebuild) empties the table and loads it in one
        # pass; a shorter range rewrites only the rows that change.
        fresh = _range_is_everything(start, end)
        DayVerb.objects.filter(day__gte=start, day__lte=end).delete()
        activity, later = None, []
        if fresh:
            _empty(MemberDay, MemberWeek)
        if fresh and _postgres():
            activity = _fresh_load(start, end)
        elif fresh:
            _member_days_write(start, end, fresh=True)
            _day_verbs_write(start, end, fresh=True)
            member_weeks_rebuild()
        else:
            if _postgres():
                changed, activity = _range_load(start, end)
            else:
                changed = _member_days_write(start, end, fresh=False)
                _day_verbs_write(start, end, fresh=False)
            # Later previous days and member-weeks can only move when some member-day of the range was written or
            # removed.
            if changed:
                later = _later_prev_days_fix(end)
                _member_weeks_refresh(start, end)
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
    """Rewrite the weekly cohort tables: the sizes from the members, every cell from the member-weeks (which each
    rollup rebuild keeps up to date for the days it rewrites), so the cost follows members times active weeks."""
    join_sql, _params = _join_day_sql()
    with transaction.atomic(), connection.cursor() as cursor:
        _serialize_writers()
        _tune_session()
        _empty(CohortCell, Cohort)
        cursor.execute(
            f"""
            INSERT INTO {Cohort._meta.db_table} (week, size)
            SELECT {_monday_sql(join_sql)}, COUNT(*) FROM members_member m WHERE m.joined_at IS NOT NULL
            GROUP BY 1
            """  # noqa: S608
        )
        # A cell "at least n active days" adds up the member-weeks with n … 7 active days: one pass groups the
        # member-weeks by their active days, a running sum per cell does the rest.
        cursor.execute(
            f"""
            INSERT INTO {CohortCell._meta.db_table} (cohort_week, week_index, min_active_days, members)
            SELECT cohort_week, week_index, active_days,
                   SUM(n) OVER (PARTITION BY cohort_week, week_index ORDER BY active_days DESC)
            FROM (
                SELECT w.cohort_week AS cohort_week, w.week_index AS week_index,
                       CASE WHEN w.active_days > {MAX_MIN_ACTIVE_DAYS} THEN {MAX_MIN_ACTIVE_DAYS}
                            ELSE w.active_days END AS active_days, COUNT(*) AS n
                FROM {MemberWeek._meta.db_table} w WHERE w.week_index >= 0
                GROUP BY 1, 2, 3
            ) AS counted
            """  # noqa: S608
        )
        # Thresholds no member-week has exactly still have their cell: the count of the next larger one present.
        cursor.execute(
            f"""
            INSERT INTO {CohortCell._meta.db_table} (cohort_week, week_index, min_active_days, members)
            SELECT c.cohort_week, c.week_index, t.n,
                   (SELECT MAX(x.members) FROM {CohortCell._meta.db_table} x
                    WHERE x.cohort_week = c.cohort_week AND x.week_index = c.week_index AND x.min_active_days > t.n)
            FROM (SELECT DISTINCT cohort_week, week_index FROM {CohortCell._meta.db_table}) AS c
            JOIN ({" UNION ALL ".join(f"SELECT {n} AS n" for n in range(1, MAX_MIN_ACTIVE_DAYS + 1))}) AS t ON t.n > 0
            WHERE t.n < (SELECT MAX(y.min_active_days) FROM {CohortCell._meta.db_table} y
                         WHERE y.cohort_week = c.cohort_week AND y.week_index = c.week_index)
              AND NOT EXISTS (SELECT 1 FROM {CohortCell._meta.db_table} z WHERE z.cohort_week = c.cohort_week
                              AND z.week_index = c.week_index AND z.min_active_days = t.n)
            """  # noqa: S608
        )
    rollups_version_bump()
    return {"cohorts": Cohort.objects.count(), "cells": CohortCell.objects.count()}


def _monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())
