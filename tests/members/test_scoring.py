"""Scorecards: questionnaire rules (points per choice, ranges, weights, scales, text, knock-outs, required),
usage percentiles with the top 20% flagged, an explanation per criterion, in bulk queries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Application, Scorecard
from members.services.applications import application_submit
from members.services.scoring import round_score
from tests.factories import MemberFactory
from tests.members.factories import ApplicationFactory, UsageMetricFactory, good_answers, standard_round

pytestmark = pytest.mark.django_db


def submit(round, answers, member=None):
    member = member or MemberFactory()
    return application_submit(round=round, member=member, answers=answers, actor=member.user).application


def test_questionnaire_points_follow_the_rules_and_are_explained():
    round, p = standard_round()
    application = submit(round, good_answers(p))

    round_score(round_id=round.pk)

    card = Scorecard.objects.get(application=application)
    assert card.questionnaire_score == Decimal("33.00")
    assert not card.knocked_out
    lines = {line["q"]: line for line in card.breakdown["questions"]}
    assert lines[p["role"].pk]["points"] == 10.0
    assert lines[p["role"].pk]["why"] == "Developer"
    assert lines[p["hours"].pk]["points"] == 10.0  # 5 points in the 10+ range, weight 2
    assert lines[p["keen"].pk]["points"] == 4.0
    assert lines[p["why"].pk]["points"] == 4.0
    assert card.breakdown["usage"] == {"data": False, "points": 0.0}
    application.refresh_from_db()
    assert application.status == Application.Status.SCREENING
    assert application.stage == Application.Stage.SCREENED
    assert application.segment == "developers"


@pytest.mark.parametrize(
    ("change", "knocked"),
    [
        ("competitor", True),  # a knock-out choice
        ("no_hours", True),  # a number in a knock-out range
        (None, False),
    ],
)
def test_knock_out_answers_disqualify(change, knocked):
    round, p = standard_round()
    answers = good_answers(p)
    if change == "competitor":
        answers[p["role"].pk] = p["competitor"].pk
    elif change == "no_hours":
        answers[p["hours"].pk] = "0.5"
    application = submit(round, answers)

    round_score(round_id=round.pk)

    card = Scorecard.objects.get(application=application)
    assert card.knocked_out is knocked


def test_a_required_question_added_later_knocks_out_applications_without_its_answer():
    from tests.members.factories import QuestionFactory

    round, p = standard_round()
    application = submit(round, good_answers(p))
    QuestionFactory(round=round, kind="short_text", text="Your city?", required=True)

    round_score(round_id=round.pk)

    card = Scorecard.objects.get(application=application)
    assert card.knocked_out
    assert any(line["why"] == "missing" for line in card.breakdown["questions"])


def test_usage_score_is_the_percentile_within_the_round_and_the_top_20_percent_are_flagged():
    round, _p = standard_round(usage_points=Decimal(40), top_usage_percent=20)
    applications = [ApplicationFactory(round=round) for _ in range(10)]
    for number, application in enumerate(applications):
        UsageMetricFactory(application=application, active_days_30=number * 3, content_created=number)
    no_data = ApplicationFactory(round=round)

    round_score(round_id=round.pk)

    cards = {c.application_id: c for c in Scorecard.objects.all()}
    assert [cards[a.pk].top_usage for a in applications] == [False] * 8 + [True] * 2
    assert cards[applications[-1].pk].usage_percentile == 1.0
    assert cards[applications[-1].pk].usage_score == Decimal("40.00")
    assert cards[applications[0].pk].usage_score == Decimal("0.00")
    assert cards[applications[5].pk].usage_score == Decimal("22.22")  # 5 of 9 below it
    assert cards[no_data.pk].usage_score == 0 and not cards[no_data.pk].top_usage
    parts = cards[applications[-1].pk].breakdown["usage"]["parts"]
    assert set(parts) == {"active_days_30", "session_minutes", "tenure_days", "content_created", "paying"}
    assert (
        cards[applications[3].pk].total
        == cards[applications[3].pk].questionnaire_score + cards[applications[3].pk].usage_score
    )


def test_rescoring_after_a_rule_change_updates_the_card():
    round, p = standard_round()
    application = submit(round, good_answers(p))
    round_score(round_id=round.pk)
    p["dev"].points = Decimal(20)
    p["dev"].save()

    round_score(round_id=round.pk)

    assert Scorecard.objects.get(application=application).questionnaire_score == Decimal("43.00")
    assert Scorecard.objects.count() == 1


def _queries_to_score(round) -> int:
    with CaptureQueriesContext(connection) as queries:
        round_score(round_id=round.pk)
    return len(queries)


def test_scoring_takes_the_same_number_of_queries_for_5_or_40_applications():
    small, p_small = standard_round()
    large, p_large = standard_round()
    for _ in range(5):
        submit(small, good_answers(p_small))
    for _ in range(40):
        application = submit(large, good_answers(p_large))
        UsageMetricFactory(application=application)

    assert _queries_to_score(small) == _queries_to_score(large)
