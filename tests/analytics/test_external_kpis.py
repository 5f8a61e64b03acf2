"""KPIs read from other apps' selectors: points and redemptions (rewards), feedback and surveys, the funnel and
recruitment rounds (members) — with hand-computed values and the exact ranges handed to those selectors."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.selectors import scope as scope_module
from analytics.selectors.funnel import funnel
from analytics.selectors.kpis import kpis_compute
from analytics.selectors.scope import Period, Scope
from rewards.models import PointEntry, Redemption, Reward
from tests.analytics.conftest import SH, at

pytestmark = pytest.mark.django_db

PERIOD = Period(date(2026, 3, 2), date(2026, 3, 4))


def values(**options):
    return {v.key: v.value for v in kpis_compute(period=PERIOD, **options)}


def test_points_issued_redeemed_and_redemption_rate(rolled):
    a, b = rolled["a"], rolled["b"]

    def entry(member, points, moment, kind=PointEntry.Kind.EARN):
        PointEntry.objects.create(member=member, kind=kind, lifetime_delta=points, spendable_delta=points,
                                  reason="test", idempotency_key=f"{member.pk}:{moment}:{points}",
                                  created_at=moment)  # fmt: skip

    entry(a, 100, at(SH, 2026, 3, 2, 0, 0))  # first minute of the period: counts
    entry(b, 50, at(SH, 2026, 3, 4, 23, 59))  # last minute: counts
    entry(a, 70, at(SH, 2026, 3, 5, 0, 0))  # the day after: does not
    entry(a, 30, at(SH, 2026, 3, 1, 23, 59))  # the day before: does not
    reward = Reward.objects.create(kind=Reward.Kind.GIFT, name="Mug", price=30, stock=5)
    Redemption.objects.create(member=a, reward=reward, price_paid=30, idempotency_key="r1",
                              created_at=at(SH, 2026, 3, 3, 12))  # fmt: skip
    Redemption.objects.create(member=b, reward=reward, price_paid=30, idempotency_key="r2",
                              status=Redemption.Status.CANCELLED, created_at=at(SH, 2026, 3, 3, 12))  # fmt: skip
    everyone = values()
    assert (everyone["points_issued"], everyone["points_redeemed"], everyone["redemption_rate"]) == (150, 30, 20.0)
    novices = values(scope=Scope(segment="novice"))
    assert novices["points_issued"] == 0 and novices["redemption_rate"] is None


def test_feedback_and_survey_kpis_map_the_feedback_selectors(rolled, monkeypatch):
    calls = []

    def feedback_kpis(*, start, end, member_ids=None):
        calls.append((start, end, member_ids))
        return {"volume": 5, "first_response_median_seconds": 7200, "resolution_median_seconds": 129600,
                "acceptance_rate": 0.25}  # fmt: skip

    def survey_scores(*, start, end, member_ids=None):
        return {"nps": 42.5, "nps_responses": 8, "csat": 87.5, "csat_responses": 8}

    real = scope_module.external

    def external(module, name):
        if module == "feedback.selectors":
            return {"feedback_kpis": feedback_kpis, "survey_scores": survey_scores}.get(name)
        return real(module, name)

    monkeypatch.setattr("analytics.selectors.kpis.external", external)
    found = values(scope=Scope(segment="active"))
    assert found["feedback_volume"] == 5 and found["first_response_hours"] == 2.0
    assert found["resolution_hours"] == 36.0 and found["acceptance_rate"] == 25.0
    assert found["nps"] == 42.5 and found["csat"] == 87.5
    start, end, member_ids = calls[0]
    # [first day 00:00, day after the last 00:00) in the program's zone; only the segment's members.
    assert (start, end) == (at(SH, 2026, 3, 2), at(SH, 2026, 3, 5))
    assert sorted(member_ids) == sorted([rolled["a"].pk, rolled["b"].pk])


def test_a_failing_selector_makes_its_kpis_unavailable_only(rolled, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("not ready")

    monkeypatch.setattr("analytics.selectors.kpis.external", lambda module, name: broken)
    found = values()
    assert found["feedback_volume"] is None and found["nps"] is None
    assert found["members_total"] == 3


def test_funnel_uses_the_members_application_funnel(rolled, monkeypatch):
    seen = {}

    def application_funnel(*, start, end, round_id=None, member_ids=None):
        seen.update(start=start, end=end, round_id=round_id)
        return {"applied": 10, "screened": 6, "interviewed": 5, "accepted": 4}

    monkeypatch.setattr("analytics.selectors.funnel.external", lambda module, name: application_funnel)
    steps = {s["key"]: s for s in funnel(period=PERIOD)}
    assert [steps[k]["count"] for k in ("applied", "screened", "accepted", "joined")] == [10, 6, 4, 3]
    assert steps["screened"]["conversion"] == 60.0 and steps["accepted"]["conversion"] == 66.7
    assert steps["joined"]["conversion"] == 75.0
    assert (seen["start"], seen["end"]) == (at(SH, 2026, 3, 2), at(SH, 2026, 3, 5))


def test_kpis_by_recruitment_round(rolled, monkeypatch):
    round_ids = {7: [rolled["a"].pk, rolled["d"].pk]}
    monkeypatch.setattr(
        scope_module, "external",
        lambda module, name: (lambda *, round_id: round_ids[round_id]) if name == "round_member_ids" else None,
    )  # fmt: skip
    found = values(scope=Scope(round_id=7), keys=["members_total", "members_new", "dau", "mau", "d1_retention"])
    # A and D: both in at the end; A active 03-02 and 03-03; D never; D1: A yes, D no.
    assert found == {"members_total": 3 - 1, "members_new": 2, "dau": 0.67, "mau": 1, "d1_retention": 50.0}


def test_the_real_selectors_of_the_other_apps_answer(rolled):
    found = values()
    assert found["members_total"] == 3  # and nothing raised, whatever those apps return for an empty range
    steps = funnel(period=PERIOD)
    assert [s["key"] for s in steps][:3] == ["applied", "screened", "accepted"]
