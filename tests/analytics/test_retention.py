"""Cohort table, cohort cell members, funnel and churn list on the fixed program of conftest.py."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from analytics.selectors.funnel import funnel
from analytics.selectors.retention import churn_list, cohort_cell_members, cohort_table
from analytics.selectors.scope import Period, Scope
from analytics.services.rollups import rollups_rebuild
from tests.analytics.conftest import SH, at, record_activity

pytestmark = pytest.mark.django_db


def cohort_row(table, week):
    return next(row for row in table["rows"] if row["cohort_week"] == week)


def test_weekly_cohorts_by_hand(rolled):
    # Rolled up to 03-10. Cohort of Mon 03-02: A, B, D (D joined 03-04 23:59 local).
    table = cohort_table(cohorts=4)
    row = cohort_row(table, date(2026, 3, 2))
    assert row["size"] == 3
    # Week 0 (days 0-6): A (03-02, 03-03), B (03-03, 03-04) -> 2 of 3; week 1 not over yet -> None.
    assert row["cells"][0] == {"week_index": 0, "members": None, "percent": None}
    table = cohort_table(cohorts=4, through=date(2026, 3, 20))
    row = cohort_row(table, date(2026, 3, 2))
    assert row["cells"][0] == {"week_index": 0, "members": 2, "percent": 66.7}
    # Week 1 (days 7-13) is complete once a member who joined on Sunday 03-08 has had it: through 03-21.
    assert row["cells"][1]["members"] is None
    row = cohort_row(cohort_table(cohorts=4, through=date(2026, 3, 21)), date(2026, 3, 2))
    assert row["cells"][1]["members"] == 1  # A on 03-09
    # C's cohort (week of 02-16): C active 03-01 = day 9 -> week 1.
    c_row = cohort_row(cohort_table(cohorts=6, through=date(2026, 3, 20)), date(2026, 2, 16))
    assert c_row["size"] == 1 and c_row["cells"][0]["members"] == 0 and c_row["cells"][1]["members"] == 1


def test_retained_only_after_n_active_days(rolled):
    table = cohort_table(cohorts=4, min_active_days=2, through=date(2026, 3, 21))
    row = cohort_row(table, date(2026, 3, 2))
    assert row["cells"][0]["members"] == 2  # A and B both had two active days in week 0
    assert row["cells"][1]["members"] == 0  # A only one day in week 1
    by_segment = cohort_table(cohorts=4, scope=Scope(segment="loyal"), through=date(2026, 3, 20))
    assert cohort_row(by_segment, date(2026, 3, 2))["size"] == 1
    assert cohort_row(by_segment, date(2026, 3, 2))["cells"][0]["members"] == 0


def test_cell_members(rolled):
    members = list(cohort_cell_members(cohort_week=date(2026, 3, 2), week_index=0))
    assert [m.display_name for m in members] == ["A", "B"]
    assert [m.active_days for m in members] == [2, 2]


def test_funnel_by_hand(rolled):
    steps = {s["key"]: s for s in funnel(period=Period(date(2026, 3, 2), date(2026, 3, 4)))}
    assert steps["joined"]["count"] == 3
    assert steps["active_30d"]["count"] == 0
    assert steps["loyal"]["count"] == 1 and steps["loyal"]["conversion"] is None  # previous step is 0


def test_funnel_active_after_30_days(program):
    record_activity(member=program["a"], verb="checked_in", occurred_at=at(SH, 2026, 4, 5, 12))  # day 34
    rollups_rebuild(start=date(2026, 2, 1), end=date(2026, 4, 10))
    steps = {s["key"]: s for s in funnel(period=Period(date(2026, 3, 2), date(2026, 3, 4)))}
    assert steps["active_30d"]["count"] == 1 and steps["active_30d"]["conversion"] == 33.3


def test_churn_list(program):
    rollups_rebuild(start=date(2026, 2, 1), end=date(2026, 3, 25))
    # Through 03-25: quiet since 03-12; active 02-10 … 03-11. A (03-09) and B (03-04) went quiet; C has left.
    quiet = list(churn_list())
    assert [m.display_name for m in quiet] == ["B", "A"]
    assert quiet[0].last_active_on == date(2026, 3, 4)
    assert not list(churn_list(through=date(2026, 3, 9) + timedelta(days=5)))
