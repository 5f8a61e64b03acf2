"""Loading member-days and member-weeks in bulk: the member-weeks the cohort table reads, and on PostgreSQL the
one-statement loads of a full rebuild and of a shorter range (see `analytics.services.rollups`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import connection

from analytics.models import DayVerb, MemberDay, MemberWeek
from analytics.services.rollup_sql import (
    CHECK_IN_VERB,
    COHORT_WEEKS,
    MEMBER_DAY_COLUMNS,
    _distinct_sql,
    _empty,
    _gap_rows_parse,
    _gap_select_sql,
    _join_day_sql,
    _monday_sql,
    _postgres,
)

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


# A full rebuild first stages the member-days in a temporary table (`FRESH_SOURCE`), then loads every table from it
# in one statement, each part reading the staged rows afresh (a sequential scan each, no copy of them in between).
FRESH_SOURCE = "analytics_fresh_source"
FRESH_LOAD_SQL = """
    WITH g AS NOT MATERIALIZED (SELECT * FROM {source}),
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
    """Load member-days, day-verbs and member-weeks of start … end into their emptied tables (PostgreSQL); returns
    the per-day counts of `_days_by_gap`, computed in the same pass."""
    join_sql, _params = _join_day_sql()
    rebuild_indexes = _indexes_drop(MemberDay) + _indexes_drop(MemberWeek)
    source = SOURCE_SQL.format(join=join_sql, prev="x.prev_day", members=FRESH_MEMBERS_SQL)
    sql = FRESH_LOAD_SQL.format(
        source=FRESH_SOURCE,
        member_days=MemberDay._meta.db_table,
        day_verbs=DayVerb._meta.db_table,
        member_weeks=MemberWeek._meta.db_table,
        weeks=_member_weeks_select_sql("g"),
        gaps=_gap_select_sql("g").replace("%s", "%(check_in)s"),
    )
    params = {"start": start, "end": end, "check_in": f"%,{CHECK_IN_VERB},%"}
    with connection.cursor() as cursor:
        # These statements sort and group millions of member-days and member-weeks: in memory rather than through
        # temporary files (a handful of sorts and hashes of this transaction, not of every connection).
        cursor.execute("SET LOCAL work_mem = '1GB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        # The stream is read in (member, day) order from its covering index (`activity_member_day_verb`), by the
        # parallel workers of a CREATE TABLE AS (a data-modifying statement gets none), so it is grouped without
        # being sorted and members are merged in the same order. The planner, which underestimates how many
        # (member, day, verb) groups there are, would rather hash and sort the whole table (several times slower).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_hashagg = off")
        cursor.execute(f"DROP TABLE IF EXISTS {FRESH_SOURCE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {FRESH_SOURCE} ON COMMIT DROP AS {source}", params)
        cursor.execute("SET LOCAL enable_seqscan TO DEFAULT")
        cursor.execute("SET LOCAL enable_hashagg TO DEFAULT")
        cursor.execute(sql, params)
        activity = _gap_rows_parse(cursor.fetchall())
        cursor.execute(f"DROP TABLE {FRESH_SOURCE}")
        for statement in rebuild_indexes:
            cursor.execute(statement)
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # The tables were just reloaded: the statements after this one plan with their new statistics.
        cursor.execute(f"ANALYZE {MemberDay._meta.db_table}, {MemberWeek._meta.db_table}")
    return activity
