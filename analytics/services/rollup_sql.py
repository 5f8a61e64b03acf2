"""The SQL the rollups share: the program's days and the few expressions PostgreSQL and SQLite spell differently,
and the per-day counts every rebuild computes from member-days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils import timezone

from members.models import Member

SEGMENTS = tuple(Member.Segment.values)
COHORT_WEEKS = 13  # columns week 0 … 12
COHORT_DAYS = COHORT_WEEKS * 7  # member-days 0 … 90 after joining count in the cohort table
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


def _distinct_sql(left: str, right: str) -> str:
    return f"{left} IS DISTINCT FROM {right}" if _postgres() else f"{left} IS NOT {right}"


# A member's last active day before a day, from the stream's (member, day, verb) index alone: member-days have no
# index by member (`MemberDay.Meta`), and the stream is what a rollup agrees with. Only column references and
# parameter placeholders go in (`member`, `before`).
PREVIOUS_DAY_SQL = (
    "(SELECT MAX(p.local_date) FROM community_activity p WHERE p.member_id = {member} AND p.local_date < {before})"
)

MEMBER_DAY_COLUMNS = ("segment", "actions", "verbs", "joined_on", "days_since_join", "prev_day", "week_active_days")


def _week_start_sql(day: str, since: str) -> str:
    """The first day of the week after joining that holds `day` (`since`: its days since joining, at least 0)."""
    back = f"({since} - 7 * ({since} / 7))"
    if _postgres():
        return f"({day} - {back})"
    return f"date({day}, '-' || {back} || ' days')"


def _in_cohort_weeks_sql(since: str) -> str:
    return f"{since} >= 0 AND {since} <= {COHORT_DAYS - 1}"


# A member's active days in the stream from the start of a day's week after joining through that day, from the
# stream's (member, day) index (the same entries as the previous day's probe).
WEEK_ACTIVE_DAYS_SQL = (
    "(SELECT COUNT(DISTINCT p.local_date) FROM community_activity p WHERE p.member_id = {member}"
    " AND p.local_date >= {week_start} AND p.local_date <= {day})"
)


def _week_number_sql(*, day: str, since: str, before: list[str]) -> str:
    """`MemberDay.week_active_days` from the member's six active days before `day`, latest first (`before`; null
    where there are fewer): one more than those inside the week, which are the latest ones."""
    start = _week_start_sql(day, since)
    numbered = " ".join(f"WHEN {d} >= {start} THEN {count}" for count, d in reversed(list(enumerate(before, 2))))
    return f"CASE WHEN {_in_cohort_weeks_sql(since)} THEN CASE {numbered} ELSE 1 END END"


def _week_active_days_sql(*, member: str, day: str, since: str, prev: str | None) -> str:
    """`MemberDay.week_active_days` from the stream: null after the cohort weeks; 1 when the previous active day
    (`prev`, an expression evaluated once) is before the week; else counted. Without `prev`, always counted."""
    start = _week_start_sql(day, since)
    count = WEEK_ACTIVE_DAYS_SQL.format(member=member, week_start=start, day=day)
    if prev is not None:
        count = f"CASE WHEN {prev} >= {start} THEN {count} ELSE 1 END"
    return f"CASE WHEN {_in_cohort_weeks_sql(since)} THEN {count} END"


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


def _empty(*models_: Any) -> None:
    """Remove every row of these tables (derived data) in this transaction."""
    with connection.cursor() as cursor:
        if _postgres():
            cursor.execute("TRUNCATE " + ", ".join(model._meta.db_table for model in models_))
        else:
            for model in models_:
                cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608
