"""Surveys: answering once, targeting, dates; NPS and CSAT scores."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from community.errors import ServiceError
from community.models import Activity
from feedback import selectors, services
from feedback.models import SurveyQuestion, SurveyResponse
from tests.factories import MemberFactory, TagFactory
from tests.feedback.factories import QuestionFactory, SurveyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey():
    survey = SurveyFactory(title="Pulse")
    QuestionFactory(survey=survey, kind=SurveyQuestion.Kind.NPS, order=1)
    QuestionFactory(survey=survey, kind=SurveyQuestion.Kind.CSAT, prompt="How satisfied are you?", order=2)
    QuestionFactory(survey=survey, kind=SurveyQuestion.Kind.CHOICE, prompt="Plan?", choices=["Free", "Pro"], order=3)
    QuestionFactory(survey=survey, kind=SurveyQuestion.Kind.TEXT, prompt="Anything else?", required=False, order=4)
    return survey


def answers(survey, nps, csat, choice="Pro", text=""):
    nps_q, csat_q, choice_q, text_q = survey.questions.order_by("order")
    return {nps_q.pk: nps, csat_q.pk: csat, choice_q.pk: choice, text_q.pk: text}


def test_a_member_answers_once(member, survey):
    services.survey_respond(survey=survey, member=member, answers=answers(survey, 9, 5))

    with pytest.raises(ServiceError) as twice:
        services.survey_respond(survey=survey, member=member, answers=answers(survey, 3, 1))

    assert twice.value.code == "duplicate"
    assert Activity.objects.filter(member=member, verb="survey_answered").count() == 1


def test_the_database_refuses_a_second_response(member, survey):
    SurveyResponse.objects.create(survey=survey, member=member)

    with pytest.raises(IntegrityError), transaction.atomic():
        SurveyResponse.objects.create(survey=survey, member=member)


@pytest.mark.parametrize(("nps", "csat", "field_index"), [(11, 3, 0), (-1, 3, 0), ("x", 3, 0), (5, 0, 1), (5, 6, 1)])
def test_scores_out_of_range_are_refused(member, survey, nps, csat, field_index):
    with pytest.raises(ServiceError) as refused:
        services.survey_respond(survey=survey, member=member, answers=answers(survey, nps, csat))

    question = list(survey.questions.order_by("order"))[field_index]
    assert refused.value.field == f"q{question.pk}"
    assert not SurveyResponse.objects.exists()


def test_an_unknown_choice_or_missing_required_answer_is_refused(member, survey):
    with pytest.raises(ServiceError):
        services.survey_respond(survey=survey, member=member, answers=answers(survey, 5, 3, choice="Gold"))
    with pytest.raises(ServiceError):
        services.survey_respond(survey=survey, member=member, answers=answers(survey, "", 3))


def test_closed_unpublished_or_future_surveys_take_no_answers(member, survey):
    survey.closes_at = timezone.now() - timedelta(minutes=1)
    survey.opens_at = timezone.now() - timedelta(days=1)
    survey.save()
    with pytest.raises(ServiceError) as closed:
        services.survey_respond(survey=survey, member=member, answers=answers(survey, 9, 5))
    assert closed.value.code == "closed"
    assert selectors.surveys_for_member(member=member) == []


def test_targeting_by_segment_or_tag(member, other_member, survey):
    tag = TagFactory(name="beta")
    survey.target_segments = ["loyal"]
    survey.save()
    survey.target_tags.add(tag)
    other_member.tags.add(tag)
    loyal = MemberFactory(segment="loyal")

    assert selectors.surveys_for_member(member=member) == []
    assert [s.pk for s in selectors.surveys_for_member(member=other_member)] == [survey.pk]
    assert [s.pk for s in selectors.surveys_for_member(member=loyal)] == [survey.pk]
    with pytest.raises(ServiceError) as refused:
        services.survey_respond(survey=survey, member=member, answers=answers(survey, 9, 5))
    assert refused.value.code == "not_targeted"


def test_nps_and_csat_are_computed(survey):
    for nps, csat in [(10, 5), (9, 4), (8, 2), (3, 1)]:
        services.survey_respond(survey=survey, member=MemberFactory(), answers=answers(survey, nps, csat))

    results = selectors.survey_results(survey=survey)
    nps_entry, csat_entry, choice_entry, _text = results["questions"]
    assert (nps_entry["nps"], nps_entry["promoters"], nps_entry["detractors"]) == (25.0, 2, 1)
    assert csat_entry["csat"] == 50.0
    assert dict(choice_entry["distribution"]) == {"Free": 0, "Pro": 4}
    now = timezone.now()
    scores = selectors.survey_scores(start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    assert scores == {"nps": 25.0, "nps_responses": 4, "csat": 50.0, "csat_responses": 4}
    assert selectors.survey_scores(start=now + timedelta(hours=1), end=now + timedelta(hours=2))["nps"] is None


def test_scores_for_some_members_only(survey, member):
    services.survey_respond(survey=survey, member=member, answers=answers(survey, 10, 5))
    services.survey_respond(survey=survey, member=MemberFactory(), answers=answers(survey, 0, 1))
    now = timezone.now()

    scores = selectors.survey_scores(
        start=now - timedelta(hours=1), end=now + timedelta(hours=1), member_ids=[member.pk]
    )

    assert scores == {"nps": 100.0, "nps_responses": 1, "csat": 100.0, "csat_responses": 1}


def test_csv_rows_hold_every_answer(survey, member):
    services.survey_respond(survey=survey, member=member, answers=answers(survey, 7, 3, text="Faster, please"))

    header, row = list(selectors.survey_csv_rows(survey=survey))

    assert header[4:] == [q.prompt for q in survey.questions.order_by("order")]
    assert row[2:] == [member.pk, member.segment, 7, 3, "Pro", "Faster, please"]
