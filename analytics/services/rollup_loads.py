"""Loading member-days in bulk on PostgreSQL: the one-statement loads of a full rebuild and of a shorter range (see
`analytics.services.rollups`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connection

from analytics.models import DayVerb, MemberDay
from analytics.services.rollup_sql import (
    CHECK_IN_VERB,
    MEMBER_DAY_COLUMNS,
    PREVIOUS_DAY_SQL,
    _distinct_sql,
    _gap_rows_parse,
    _gap_select_sql,
    _in_cohort_weeks_sql,
    _join_day_sql,
    _week_active_days_sql,
    _week_number_sql,
    _week_start_sql,
)

# --- a full rebuild on PostgreSQL: one sort of the stream, every table loaded from it, indexes built after ------


def _indexes_drop(model: Any) -> list[str]:
    """Drop a table's indexes, its primary key and unique constraints included; returns the statements that create
    them again. Building an index once over a loaded table is many times cheaper than keeping it up to date row by
    row through millions of inserts (for the member-days' key: 2 s against 10 s at 7.6M rows)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
            " AND contype IN ('p', 'u') ORDER BY contype, conname",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = %s::regclass AND NOT EXISTS"
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


# The member-days of the range from one pass over the stream in order (`keys`: by member, or by day; with the window
# the previous active day is the member's row before), with their verbs as arrays for the per-verb counts.
# The verbs are aggregated in the sorted subquery's order (byte order, "C": the cheap comparison, and the order of
# the database's UTF-8 collation); the two arrays are aggregated over the same rows, so their items stay aligned.
SOURCE_SQL = """
    SELECT x.member_id, x.day, m.segment, x.actions, x.verbs, x.verb_list, x.verb_counts, {prev} AS prev_day,
           m.joined_on, (x.day - m.joined_on) AS days_since_join{week_active_days}
    FROM (
        SELECT v.member_id, v.local_date AS day, SUM(v.n)::integer AS actions,
               ',' || string_agg(v.verb, ',') || ',' AS verbs,
               array_agg(v.verb) AS verb_list, array_agg(v.n) AS verb_counts{window}
        FROM (
            SELECT a.member_id, a.local_date, a.verb, COUNT(*) AS n
            FROM ({stream}) AS a
            GROUP BY {keys}, a.verb ORDER BY {keys}, a.verb
        ) AS v
        GROUP BY {keys}
    ) AS x {members}
"""
# A full rebuild groups the stream by member, read in that order from its covering index
# (`activity_member_day_verb`).
BY_MEMBER = "member_id, local_date"
FULL_STREAM_SQL = """
    SELECT a.member_id, a.local_date, a.verb COLLATE "C" AS verb FROM community_activity a
    WHERE a.local_date >= %(start)s AND a.local_date <= %(end)s
"""
# A shorter range groups it by day and member: its rows (next to each other in the table, the stream being written
# in time order) are sorted once, so both groupings stream and members are looked up in key order; one day is
# sorted by member first (a first sort key that is the same for every row costs a comparison more each time). The
# sorted subquery keeps the planner from hashing the groups first and sorting them afterwards. An index in this
# order would spare the sort, but inserting into it at a random place per row cost the event intake a fifth of its
# throughput.
BY_DAY = "local_date, member_id"
RANGE_STREAM_SQL = """
    SELECT a.member_id, a.local_date, a.verb COLLATE "C" AS verb FROM community_activity a
    WHERE a.local_date >= %(start)s AND a.local_date <= %(end)s ORDER BY {order}, 3 OFFSET 0
"""
WINDOW_SQL = ", LAG(v.local_date) OVER (PARTITION BY v.member_id ORDER BY v.local_date) AS prev_day"
# A full rebuild sees every active day of a member in the window, so the six before each one number it within its
# week after joining (`MemberDay.week_active_days`): one more than the count of them inside the week, which are the
# latest ones. (A shorter range counts them in the stream instead: the week may begin before the range.)
FULL_WINDOW_SQL = WINDOW_SQL + "".join(
    f", LAG(v.local_date, {back}) OVER (PARTITION BY v.member_id ORDER BY v.local_date) AS before_{back}"
    for back in range(2, 7)
)


def _full_week_active_days_sql() -> str:
    before = ["x.prev_day", *(f"x.before_{back}" for back in range(2, 7))]
    numbered = _week_number_sql(day="x.day", since="(x.day - m.joined_on)", before=before)
    return f", {numbered} AS week_active_days"


# A shorter range numbers each member-day once its previous day is known (`RANGE_SOURCE_SQL` over the source),
# counting the member's days of the week in the stream where the previous day falls inside it.
RANGE_SOURCE_SQL = "SELECT s.*, {week_active_days} AS week_active_days FROM ({source} OFFSET 0) AS s"
# One day reads each member's last six active days before it in one probe of the stream's (member, day) index,
# latest first: the first is the previous active day, and those inside the week number the day.
DAY_BEFORE_DAYS_SQL = (
    "ARRAY(SELECT DISTINCT p.local_date FROM community_activity p WHERE p.member_id = x.member_id"
    " AND p.local_date < %(start)s ORDER BY 1 DESC LIMIT 6)"
)
DAY_SOURCE_SQL = """
    SELECT s.member_id, s.day, s.segment, s.actions, s.verbs, s.verb_list, s.verb_counts, s.prev_day[1] AS prev_day,
           s.joined_on, s.days_since_join, {week_active_days} AS week_active_days
    FROM ({source} OFFSET 0) AS s
"""
# A full rebuild reads every member, in key order beside the member-days. Each member's join day is computed once
# in the members' own scan (OFFSET 0 keeps it there: a time zone conversion per member-day was seconds of a
# rebuild).
FRESH_MEMBERS_SQL = (
    "JOIN (SELECT m.id, m.segment, {join} AS joined_on FROM members_member m OFFSET 0) AS m ON m.id = x.member_id"
)
# A few days read a fraction of them: each looked up by key, from the members' narrow covering index
# (`member_rollup_columns`; OFFSET 0 keeps the lookup from being turned into a join that hashes the whole table).
FEW_MEMBERS_SQL = (
    "CROSS JOIN LATERAL (SELECT m.segment, {join} AS joined_on FROM members_member m WHERE m.id = x.member_id"
    " OFFSET 0) AS m"
)
# One day's members come out of its grouping in key order: they are merged with that index read from end to end
# instead (133,669 lookups of a million members: 0.09 s against 0.2 s, and one pass over the index's pages in their
# order rather than a jump per member, which matters when they are not cached). The planner, which underestimates
# how many members a day has, would look each one up; the statement switches nested loops and hashing off for
# itself (the lateral parts run as nested loops regardless).
MERGED_MEMBERS_SQL = (
    "JOIN members_member r ON r.id = x.member_id"
    " CROSS JOIN LATERAL (SELECT r.segment, {join} AS joined_on FROM (SELECT r.joined_at) AS m OFFSET 0) AS m"
)


# A full rebuild first stages the member-days in an unlogged table of its transaction (`FRESH_SOURCE`; a regular
# table, not a temporary one, so that parallel workers can read it), then loads each table from it: the member-days
# in one insert, the day-verbs and the per-day counts each grouped by parallel workers (a data-modifying statement
# gets none, so the day-verbs are grouped into a temporary table first).
# The member-days are written in (day, member) order, so each day's rows sit on neighbouring pages: the nightly
# rollup compares a day's stored rows, and the readers read ranges of days. They are sorted by one number made of
# both (`DAY_MEMBER_ORDER`): sorting by (day, member) compared the member ids of nearly every pair, a day being
# shared by a hundred thousand rows, and reached into each row to do it (15 s against 4 s at 7.6M rows).
FRESH_SOURCE = "analytics_fresh_source"
FRESH_DAY_VERBS = "analytics_fresh_day_verbs"
# The day's number in the high 32 bits, the member id's low 32 bits below it: (day, member) order for every
# id below 2**32, and no overflow for any id (beyond that only the order of rows within a day loosens).
DAY_MEMBER_ORDER = "((day - DATE '2000-01-01')::bigint << 32) + (member_id & 4294967295)"
FRESH_MEMBER_DAYS_SQL = """
    INSERT INTO {member_days} (member_id, day, {columns})
    SELECT member_id, day, {columns} FROM {source}
    ORDER BY {day_member_order}
"""
FRESH_DAY_VERBS_SQL = """
    CREATE TEMPORARY TABLE {day_verbs} ON COMMIT DROP AS
    SELECT day, segment, verb, COUNT(*) AS members, SUM(n) AS actions
    FROM (SELECT day, segment, unnest(verb_list) AS verb, unnest(verb_counts) AS n FROM {source}) AS u
    GROUP BY day, segment, verb
"""
FRESH_DAY_VERBS_INSERT_SQL = """
    INSERT INTO {day_verbs} (day, segment, verb, members, actions)
    SELECT day, segment, verb, members, actions FROM {grouped}
"""


# A shorter range, in one statement: the range's stored member-days are read once and compared with the new ones in
# one join, so only the rows that changed are written: the new ones inserted, the changed ones updated, those whose
# activity has gone removed (`changes` has no new day for them). The previous active day of a member's first day in
# the range is their last active day before it. The day-verbs are written and the per-day counts returned.
# The update and the delete find their rows by the row address read with them (`ctid`, one probe each), not by key:
# a join by key let the planner hash the whole member-day table to remove no row. Every part of the statement sees
# the same snapshot and the writes touch disjoint rows; rollup writers take turns (`rollups._serialize_writers`),
# and a row deleted meanwhile with its member is skipped by the update and delete.
# A member with a day added to or removed from the range may have a new previous day on their first day after it
# (`later`): their last day in the range, else their last active day before it; and their days after the range in a
# week after joining that began in it a new number (`week_active_days`, counted again). No other later row can
# change: its previous day and its week are after the range, or its member has the same days in the range as before.
RANGE_LOAD_SQL = """
    WITH g AS MATERIALIZED ({source}),
    stored AS MATERIALIZED (
        SELECT d.ctid AS row_id, d.member_id, d.day, {stored_columns} FROM {member_days} d
        WHERE d.day >= %(start)s AND d.day <= %(end)s
    ),
    changes AS MATERIALIZED (
        SELECT s.row_id, COALESCE(g.member_id, s.member_id) AS member_id, g.day, {new_columns}
        FROM g FULL JOIN stored s ON s.member_id = g.member_id AND s.day = g.day
        WHERE g.member_id IS NULL OR s.member_id IS NULL OR {changed}
    ),
    gone AS (
        DELETE FROM {member_days} d WHERE d.ctid = ANY (ARRAY(SELECT row_id FROM changes WHERE day IS NULL))
    ),
    inserted AS (
        INSERT INTO {member_days} (member_id, day, {columns})
        SELECT member_id, day, {columns} FROM changes WHERE row_id IS NULL
    ),
    updated AS (
        UPDATE {member_days} t SET {update} FROM changes c
        WHERE t.ctid = ANY (ARRAY(SELECT row_id FROM changes WHERE row_id IS NOT NULL AND day IS NOT NULL))
          AND c.row_id = t.ctid
    ),
    moved AS MATERIALIZED (
        SELECT c.row_id, c.prev_day, c.week_active_days, c.prev_day IS DISTINCT FROM c.old_prev AS prev_moved
        FROM (
            SELECT r.row_id, r.prev_day, r.old_prev, r.old_number, {later_number} AS week_active_days
            FROM (
                SELECT l.row_id, l.member_id, l.day, l.days_since_join, l.prev_day AS old_prev,
                       l.week_active_days AS old_number,
                       CASE WHEN l.prev_day > %(end)s THEN l.prev_day ELSE COALESCE(MAX(g.day), {earlier}) END
                           AS prev_day
                FROM (
                    SELECT t.ctid AS row_id, t.member_id, t.day, t.days_since_join, t.prev_day, t.week_active_days
                    FROM {member_days} t
                    WHERE t.day > %(end)s
                      AND (t.prev_day IS NULL OR t.prev_day <= %(end)s OR ({later_week_begun}))
                      AND t.member_id IN (SELECT member_id FROM changes WHERE row_id IS NULL OR day IS NULL)
                ) AS l
                LEFT JOIN g ON g.member_id = l.member_id
                GROUP BY l.row_id, l.member_id, l.day, l.days_since_join, l.prev_day, l.week_active_days
                OFFSET 0
            ) AS r
            OFFSET 0
        ) AS c
        WHERE c.prev_day IS DISTINCT FROM c.old_prev OR c.week_active_days IS DISTINCT FROM c.old_number
    ),
    later AS (
        UPDATE {member_days} t SET prev_day = m.prev_day, week_active_days = m.week_active_days FROM moved m
        WHERE t.ctid = ANY (ARRAY(SELECT row_id FROM moved)) AND m.row_id = t.ctid
        RETURNING CASE WHEN m.prev_moved THEN t.day END AS day
    ),
    day_verbs AS (
        INSERT INTO {day_verbs} (day, segment, verb, members, actions)
        SELECT day, segment, verb, COUNT(*), SUM(n)
        FROM (SELECT day, segment, unnest(verb_list) AS verb, unnest(verb_counts) AS n FROM g) AS u
        GROUP BY day, segment, verb
    )
    SELECT (SELECT json_agg(counts) FROM ({gaps} GROUP BY 1, 2, 3) AS counts),
           (SELECT array_agg(DISTINCT day ORDER BY day) FROM later WHERE day IS NOT NULL)
"""


def _range_load(start: date, end: date) -> tuple[dict[tuple[date, str], dict[str, Any]], list[date]]:
    """Rewrite the member-days and day-verbs of start … end (PostgreSQL, day-verbs emptied for the range), and the
    previous day and week number of the later member-days that it moves. Returns the per-day counts of
    `_days_by_gap` and the later days whose previous days moved. (Data-modifying parts of a statement run to
    completion, read or not.)"""
    join_sql, _params = _join_day_sql()
    earlier = PREVIOUS_DAY_SQL.format(member="x.member_id", before="%(start)s")
    if start == end:
        window, prev, keys, order = ", NULL::date AS prev_day", DAY_BEFORE_DAYS_SQL, BY_MEMBER, "1, 2"
    else:
        window, prev, keys, order = WINDOW_SQL, f"COALESCE(x.prev_day, {earlier})", BY_DAY, "2, 1"
    source = SOURCE_SQL.format(
        stream=RANGE_STREAM_SQL.format(order=order),
        keys=keys,
        prev=prev,
        window=window,
        members=(MERGED_MEMBERS_SQL if start == end else FEW_MEMBERS_SQL).format(join=join_sql),
        week_active_days="",
    )
    if start == end:
        before = [f"s.prev_day[{back}]" for back in range(1, 7)]
        numbered = _week_number_sql(day="s.day", since="s.days_since_join", before=before)
        source = DAY_SOURCE_SQL.format(source=source, week_active_days=numbered)
    else:
        numbered = _week_active_days_sql(
            member="s.member_id", day="s.day", since="s.days_since_join", prev="s.prev_day"
        )
        source = RANGE_SOURCE_SQL.format(source=source, week_active_days=numbered)
    sql = RANGE_LOAD_SQL.format(
        source=source,
        later_number=_week_active_days_sql(
            member="r.member_id", day="r.day", since="r.days_since_join", prev="r.prev_day"
        ),
        later_week_begun=(
            f"{_in_cohort_weeks_sql('t.days_since_join')}"
            f" AND {_week_start_sql('t.day', 't.days_since_join')} <= %(end)s"
        ),
        member_days=MemberDay._meta.db_table,
        day_verbs=DayVerb._meta.db_table,
        columns=", ".join(MEMBER_DAY_COLUMNS),
        stored_columns=", ".join(f"d.{column}" for column in MEMBER_DAY_COLUMNS),
        new_columns=", ".join(f"g.{column}" for column in MEMBER_DAY_COLUMNS),
        update=", ".join(f"{column} = c.{column}" for column in MEMBER_DAY_COLUMNS),
        changed=" OR ".join(_distinct_sql(f"s.{column}", f"g.{column}") for column in MEMBER_DAY_COLUMNS),
        earlier=PREVIOUS_DAY_SQL.format(member="l.member_id", before="%(start)s"),
        gaps=_gap_select_sql("g").replace("%s", "%(check_in)s"),
    )
    with connection.cursor() as cursor:
        if start == end:
            cursor.execute("SET LOCAL enable_nestloop = off")
            cursor.execute("SET LOCAL enable_hashjoin = off")
        cursor.execute(sql, {"start": start, "end": end, "check_in": f"%,{CHECK_IN_VERB},%"})
        counts, later = cursor.fetchone()
        if start == end:
            cursor.execute("SET LOCAL enable_nestloop TO DEFAULT")
            cursor.execute("SET LOCAL enable_hashjoin TO DEFAULT")
    return _gap_rows_parse([tuple(row.values()) for row in counts or []]), list(later or [])


def _fresh_load(start: date, end: date) -> dict[tuple[date, str], dict[str, Any]]:
    """Load member-days and day-verbs of start … end into their emptied tables (PostgreSQL); returns the per-day
    counts of `_days_by_gap`, computed in the same pass."""
    join_sql, _params = _join_day_sql()
    rebuild_indexes = _indexes_drop(MemberDay)
    source = SOURCE_SQL.format(
        stream=FULL_STREAM_SQL,
        keys=BY_MEMBER,
        prev="x.prev_day",
        window=FULL_WINDOW_SQL,
        members=FRESH_MEMBERS_SQL.format(join=join_sql),
        week_active_days=_full_week_active_days_sql(),
    )
    params = {"start": start, "end": end}
    with connection.cursor() as cursor:
        # These statements sort and group millions of member-days: in memory rather than through
        # temporary files (a handful of sorts and hashes of this transaction, not of every connection).
        cursor.execute("SET LOCAL work_mem = '1GB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        # The stream is read in (member, day) order from its covering index (`activity_member_day_verb`), by the
        # parallel workers of a CREATE TABLE AS, so it is grouped without being sorted and members are merged in
        # the same order. The planner, which underestimates how many (member, day, verb) groups there are, would
        # rather hash and sort the whole table (several times slower).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_hashagg = off")
        cursor.execute(f"DROP TABLE IF EXISTS {FRESH_SOURCE}")
        cursor.execute(f"CREATE UNLOGGED TABLE {FRESH_SOURCE} AS {source}", params)
        cursor.execute("SET LOCAL enable_seqscan TO DEFAULT")
        cursor.execute("SET LOCAL enable_hashagg TO DEFAULT")
        cursor.execute(
            FRESH_MEMBER_DAYS_SQL.format(
                member_days=MemberDay._meta.db_table,
                source=FRESH_SOURCE,
                columns=", ".join(MEMBER_DAY_COLUMNS),
                day_member_order=DAY_MEMBER_ORDER,
            )
        )
        cursor.execute(f"DROP TABLE IF EXISTS {FRESH_DAY_VERBS}")
        cursor.execute(FRESH_DAY_VERBS_SQL.format(day_verbs=FRESH_DAY_VERBS, source=FRESH_SOURCE))
        cursor.execute(FRESH_DAY_VERBS_INSERT_SQL.format(day_verbs=DayVerb._meta.db_table, grouped=FRESH_DAY_VERBS))
        cursor.execute(_gap_select_sql(FRESH_SOURCE) + " GROUP BY 1, 2, 3", [f"%,{CHECK_IN_VERB},%"])
        activity = _gap_rows_parse(cursor.fetchall())
        cursor.execute(f"DROP TABLE {FRESH_DAY_VERBS}")
        cursor.execute(f"DROP TABLE {FRESH_SOURCE}")
        for statement in rebuild_indexes:
            cursor.execute(statement)
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # The tables were just reloaded: the statements after this one plan with their new statistics.
        cursor.execute(f"ANALYZE {MemberDay._meta.db_table}")
    return activity
