"""Rollups and KPIs on the small fixed program of conftest.py, with values computed by hand."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.models import DaySegment, DayVerb, MemberDay
from analytics.selectors.kpis import kpi_value, kpis_compute, participation
from analytics.selectors.scope import Period, Scope

pytestmark = pytest.mark.django_db

PERIOD = Period(date(2026, 3, 2), date(2026, 3, 4))


def test_an_action_at_2330_local_belongs_to_that_local_day(rolled):
    a, b = rolled["a"], rolled["b"]
    assert MemberDay.objects.filter(member=a, day=date(2026, 3, 2)).exists()
    # 07:30 UTC on the 4th is 23:30 on the 3rd in Los Angeles.
    row = MemberDay.objects.get(member=b, day=date(2026, 3, 3))
    assert row.verbs == ",checked_in," and row.days_since_join == 1 and row.joined_on == date(2026, 3, 2)
    assert not MemberDay.objects.filter(member=b, day=date(2026, 3, 5)).exists()


def test_day_segment_rows(rolled):
    day = {r.segment: r for r in DaySegment.objects.filter(day=date(2026, 3, 3))}
    assert (day["active"].dau, day["active"].actions, day["active"].check_ins) == (2, 2, 1)
    assert (day["active"].members, day["novice"].members, day["loyal"].members) == (2, 1, 0)
    end = {r.segment: r for r in DaySegment.objects.filter(day=date(2026, 3, 4))}
    assert (end["novice"].members, end["novice"].left_members, end["loyal"].new_members) == (0, 1, 1)
    assert (end["active"].wau, end["novice"].wau, end["active"].mau) == (2, 1, 2)
    assert DayVerb.objects.get(day=date(2026, 3, 3), segment="active", verb="checked_in").members == 1


EXPECTED = {
    "members_total": 3,
    "members_new": 3,
    "members_left": 1,
    "net_growth": 2,
    "growth_rate": 200.0,
    "dau": 1.33,
    "wau": 3,
    "mau": 3,
    "stickiness": 5.56,
    "checkin_rate": 22.22,
    "actions": 4,
    "d1_retention": 66.67,
    "d7_retention": 50.0,
    "d30_retention": None,
}


@pytest.mark.parametrize(("key", "expected"), EXPECTED.items())
def test_kpi_by_hand(rolled, key, expected):
    assert kpi_value(key, period=PERIOD) == expected


def test_kpis_by_segment(rolled):
    active = {v.key: v.value for v in kpis_compute(period=PERIOD, scope=Scope(segment="active"))}
    assert active["members_total"] == 2 and active["members_new"] == 2 and active["dau"] == 1.33
    assert active["members_left"] == 0 and active["d1_retention"] == 100.0
    loyal = {v.key: v.value for v in kpis_compute(period=PERIOD, scope=Scope(segment="loyal"))}
    assert loyal["members_total"] == 1 and loyal["dau"] == 0 and loyal["d1_retention"] == 0.0


def test_kpis_by_tag_read_the_member_days_of_its_members(rolled):
    from tests.factories import TagFactory

    tag = TagFactory(name="beta")
    rolled["b"].tags.add(tag)
    rolled["c"].tags.add(tag)
    values = {v.key: v.value for v in kpis_compute(period=PERIOD, scope=Scope(tag_id=tag.pk))}
    # B and C: at the end of 03-04 only B is in; before the period only C; B active 03-03 and 03-04.
    assert values["members_total"] == 1 and values["members_new"] == 1 and values["members_left"] == 1
    assert values["growth_rate"] == 0.0
    assert values["dau"] == 0.67 and values["wau"] == 2 and values["mau"] == 2
    # member-days in the program: C 03-02, 03-03; B 03-02, 03-03, 03-04 = 5; check-ins: B 03-03.
    assert values["checkin_rate"] == 20.0


def test_previous_period_and_change(rolled):
    values = {v.key: v for v in kpis_compute(period=PERIOD)}
    # 02-27 … 03-01: only C, active on 03-01.
    assert values["members_total"].previous == 1 and values["members_total"].change == 2
    assert values["dau"].previous == 0.33


def test_participation_per_kind(rolled):
    rows = {row["verb"]: row for row in participation(period=PERIOD)}
    assert rows["checked_in"]["members"] == 2 and rows["checked_in"]["rate"] == 66.67
    assert rows["question_answered"]["members"] == 1 and rows["question_answered"]["rate"] == 33.33
    assert rows["feedback_submitted"]["members"] == 1


def test_kpis_are_unavailable_when_their_app_does_not_provide_them(rolled):
    values = {v.key: v for v in kpis_compute(period=PERIOD)}
    from analytics.selectors.scope import external

    if external("feedback.selectors", "feedback_kpis") is None:
        assert values["feedback_volume"].value is None and not values["feedback_volume"].available


def test_every_kpi_is_defined_once_with_its_definition_as_docstring():
    from analytics.selectors.kpis import KPIS

    for key, kpi in KPIS.items():
        assert kpi.definition and kpi.definition == kpi.compute.__doc__, key
    assert len({kpi.compute for kpi in KPIS.values()}) == len(KPIS)


def test_the_api_and_csv_carry_each_definition(api_operator, rolled):
    body = api_operator.get("/api/v1/analytics/kpis/?start=2026-03-02&end=2026-03-04").json()
    by_key = {row["key"]: row for row in body["kpis"]}
    assert by_key["mau"]["definition"].startswith("Monthly active members: distinct members active in the 30 days")
