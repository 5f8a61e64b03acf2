"""Retention reads: the weekly cohort table, the members behind one cell, and members who went quiet."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery

from analytics.models import Cohort, CohortCell, MemberDay, MemberWeek
from analytics.selectors.cache import rollup_cached
from analytics.selectors.scope import Scope
from analytics.selectors.series import complete_through, rollups_through
from analytics.services.rollup_sql import COHORT_WEEKS, MAX_MIN_ACTIVE_DAYS, day_bounds
from analytics.services.rollups import _monday_of
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
        cells = defaultdict(int)
        for row in (
            MemberWeek.objects.filter(
                member_id__in=members.values("pk"),
                cohort_week__gte=first_week,
                cohort_week__lte=last_week,
                active_days__gte=min_active_days,
            )
            .values("cohort_week", "week_index")
            .annotate(n=Count("pk"))
        ):
            cells[(row["cohort_week"], row["week_index"])] = row["n"]
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


def cohort_cell_members(*, cohort_week: date, week_index: int, min_active_days: int = 1) -> QuerySet[Member]:
    """The members counted in one cell of the cohort table, with their active days in that week."""
    weeks = MemberWeek.objects.filter(
        member=OuterRef("pk"), cohort_week=cohort_week, week_index=week_index, active_days__gte=min_active_days
    )
    return (
        Member.objects.filter(pk__in=weeks.values("member_id"))
        .select_related("user")
        .annotate(active_days=Subquery(weeks.values("active_days")[:1]))
        .order_by("display_name", "id")
    )


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
    last_day = MemberDay.objects.filter(member=OuterRef("pk")).order_by("-day").values("day")[:1]
    return (
        Member.objects.filter(status=Member.Status.ACTIVE, pk__in=earlier)
        .exclude(pk__in=recent)
        .select_related("user")
        .annotate(last_active_on=Subquery(last_day))
        .order_by("last_active_on", "display_name", "id")
    )
