"""Retention reads: the weekly cohort table, the members behind one cell, and members who went quiet."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, QuerySet, Subquery

from analytics.models import Cohort, CohortCell, MemberDay
from analytics.selectors.cache import rollup_cached
from analytics.selectors.scope import Scope
from analytics.selectors.series import complete_through, rollups_through
from analytics.services.rollup_sql import COHORT_DAYS, COHORT_WEEKS, MAX_MIN_ACTIVE_DAYS, _monday_sql, day_bounds
from analytics.services.rollups import _monday_of
from community.selectors import member_last_active_day
from members.models import Member

CHURN_ACTIVE_DAYS = 30  # active at some point in this window …
CHURN_QUIET_DAYS = 14  # … and not at all in the last this many days


@rollup_cached
def cohort_table(
    *, cohorts: int = 12, min_active_days: int = 1, scope: Scope | None = None, through: date | None = None
) -> dict[str, Any]:
    """The weekly cohort table: cohorts by join week (Monday, program time zone), columns week 0 … 12.

    Cell (c, k) = members of cohort c active on at least `min_active_days` days among days 7k … 7k+6 after their
    join day, as a count and as a percentage of the cohort. A cell whose week has not fully passed by the last
    rolled-up day is None. Three queries whatever the number of members or weeks.
    """
    scope = scope or Scope()
    min_active_days = max(1, min(MAX_MIN_ACTIVE_DAYS, min_active_days))
    through = through or complete_through()
    if through is None:
        return {"weeks": list(range(COHORT_WEEKS)), "rows": [], "min_active_days": min_active_days}
    last_week = _monday_of(through)
    first_week = last_week - timedelta(weeks=cohorts - 1)
    if scope.by_members or scope.segment:
        members = scope.member_queryset()
        sizes = _live_sizes(members, first_week, last_week)
        cells = _scoped_cells(members, first_week, last_week, min_active_days)
    else:
        sizes = dict(Cohort.objects.filter(week__gte=first_week, week__lte=last_week).values_list("week", "size"))
        cells = defaultdict(int)
        for week, index, count in CohortCell.objects.filter(
            cohort_week__gte=first_week, cohort_week__lte=last_week, min_active_days=min_active_days
        ).values_list("cohort_week", "week_index", "members"):
            cells[(week, index)] = count
    rows = []
    for number in range(cohorts):
        week = first_week + timedelta(weeks=number)
        size = sizes.get(week, 0)
        row_cells = []
        for index in range(COHORT_WEEKS):
            # The cell is complete once the last member of the cohort (joined on Sunday) has had their week k.
            observable = week + timedelta(days=7 * index + 6 + 6) <= through
            count = cells.get((week, index), 0)
            row_cells.append(
                {
                    "week_index": index,
                    "members": count if observable else None,
                    "percent": round(100 * count / size, 1) if observable and size else None,
                }
            )
        rows.append({"cohort_week": week, "size": size, "cells": row_cells})
    return {"weeks": list(range(COHORT_WEEKS)), "rows": rows, "min_active_days": min_active_days}


def _live_sizes(members: QuerySet[Member], first_week: date, last_week: date) -> dict[date, int]:
    start_at, end_at = day_bounds(first_week)[0], day_bounds(last_week + timedelta(days=6))[1]
    sizes: dict[date, int] = defaultdict(int)
    for joined_at in members.filter(joined_at__gte=start_at, joined_at__lt=end_at).values_list("joined_at", flat=True):
        from analytics.services.rollups import program_zone

        sizes[_monday_of(joined_at.astimezone(program_zone()).date())] += 1
    return sizes


def _scoped_cells(
    members: QuerySet[Member], first_week: date, last_week: date, min_active_days: int
) -> dict[tuple[date, int], int]:
    """Cells of the cohorts first_week … last_week for a set of members, from their member-days (one query): each
    member's active days per week after joining, then the members per cell with at least `min_active_days`."""
    member_sql, member_params = members.values("pk").query.sql_with_params()
    sql = f"""
        SELECT w.cohort_week, w.week_index, COUNT(*)
        FROM (
            SELECT {_monday_sql("MIN(d.joined_on)")} AS cohort_week, d.days_since_join / 7 AS week_index
            FROM {MemberDay._meta.db_table} d
            WHERE d.joined_on >= %s AND d.joined_on <= %s AND d.days_since_join >= 0
              AND d.days_since_join < {COHORT_DAYS} AND d.member_id IN ({member_sql})
            GROUP BY d.member_id, d.days_since_join / 7
            HAVING COUNT(*) >= %s
        ) AS w
        GROUP BY 1, 2
    """  # noqa: S608
    # Only the table name, a vendor expression and the members' compiled query are interpolated.
    cells: dict[tuple[date, int], int] = defaultdict(int)
    with connection.cursor() as cursor:
        cursor.execute(sql, [first_week, last_week + timedelta(days=6), *member_params, min_active_days])
        for week, index, count in cursor.fetchall():
            cells[(_as_date(week), int(index))] = count
    return cells


def cohort_cell_members(*, cohort_week: date, week_index: int, min_active_days: int = 1) -> QuerySet[Member]:
    """The members counted in one cell of the cohort table, with their active days in that week."""
    first, last = 7 * week_index, 7 * week_index + 6
    in_week = MemberDay.objects.filter(
        joined_on__gte=cohort_week,
        joined_on__lte=cohort_week + timedelta(days=6),
        days_since_join__gte=first,
        days_since_join__lte=last,
    )
    counted = in_week.values("member_id").annotate(n=Count("day")).filter(n__gte=min_active_days)
    # One member's days in that week: one of 13 calendar days (the cohort's join days Monday … Sunday, plus the
    # week), each an exact probe of the (day, member) index.
    span = [cohort_week + timedelta(days=first + offset) for offset in range(13)]
    own = (
        MemberDay.objects.filter(
            member=OuterRef("pk"), day__in=span, days_since_join__gte=first, days_since_join__lte=last
        )
        .order_by()
        .values("member_id")
        .annotate(n=Count("day"))
        .values("n")
    )
    return (
        Member.objects.filter(pk__in=counted.values("member_id"))
        .select_related("user")
        .annotate(active_days=Subquery(own[:1]))
        .order_by("display_name", "id")
    )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def churn_list(*, through: date | None = None) -> QuerySet[Member]:
    """Members still in the program who were active in the 30 days before the last 14 days, and not since.

    Annotated with `last_active_on`; the quietest first.
    """
    through = through or rollups_through()
    if through is None:
        return Member.objects.none()
    quiet_from = through - timedelta(days=CHURN_QUIET_DAYS - 1)
    active_from = quiet_from - timedelta(days=CHURN_ACTIVE_DAYS)
    earlier = MemberDay.objects.filter(day__gte=active_from, day__lt=quiet_from).values("member_id")
    recent = MemberDay.objects.filter(day__gte=quiet_from, day__lte=through).values("member_id")
    return (
        Member.objects.filter(status=Member.Status.ACTIVE, pk__in=earlier)
        .exclude(pk__in=recent)
        .select_related("user")
        .annotate(last_active_on=member_last_active_day(through=through))
        .order_by("last_active_on", "display_name", "id")
    )
