"""Recruitment over the API: rounds (read), applications (create from integrations or by a member; list, filter,
retrieve, decide for operators), usage-metric bulk upsert. Members see only their own application."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Application, Member, UsageMetric
from members.services.applications import application_submit
from tests.factories import MemberFactory, UserFactory
from tests.members.factories import ApplicationFactory, RoundFactory, good_answers, standard_round

pytestmark = pytest.mark.django_db

ROUNDS = "/api/v1/rounds/"
APPLICATIONS = "/api/v1/applications/"


def answers_payload(p):
    return [{"question": pk, "value": value} for pk, value in good_answers(p).items()]


# --- rounds ------------------------------------------------------------------------------------------------


def test_anyone_reads_the_open_rounds_with_their_questions_but_not_the_scoring_rules(api_anon):
    round, _p = standard_round()
    RoundFactory(opens_at=timezone.now() + timedelta(days=3), closes_at=timezone.now() + timedelta(days=9))

    response = api_anon.get(ROUNDS)

    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == round.pk and row["is_open"] is True
    assert row["accepted"] is None
    choice = row["questions"][0]["choices"][0]
    assert set(choice) == {"id", "label"}  # no points, no knock-out flags


def test_operators_see_every_round_with_its_places(api_operator, django_assert_num_queries):
    for _ in range(3):
        round, _p = standard_round()
        ApplicationFactory(round=round, status=Application.Status.ACCEPTED)
    RoundFactory(opens_at=timezone.now() - timedelta(days=30), closes_at=timezone.now() - timedelta(days=1))

    # operator check + count + page + questions + choices + quotas
    with django_assert_num_queries(6):
        response = api_operator.get(ROUNDS)

    assert response.json()["count"] == 4
    assert sorted(row["accepted"] for row in response.json()["results"]) == [0, 1, 1, 1]


# --- applications: create ----------------------------------------------------------------------------------


def test_an_integration_pushes_a_candidate_and_the_account_is_created(api_operator):
    round, p = standard_round()
    payload = {
        "round": round.pk,
        "email": "Pushed@Example.com",
        "display_name": "Pushed Person",
        "locale": "zh-hans",
        "answers": answers_payload(p),
    }

    first = api_operator.post(APPLICATIONS, payload, format="json")
    again = api_operator.post(APPLICATIONS, payload, format="json")  # a retried call

    assert first.status_code == 201, first.json()
    assert again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    member = Member.objects.get(user__email="pushed@example.com")
    assert member.display_name == "Pushed Person" and member.locale == "zh-hans"
    assert Application.objects.filter(member=member).count() == 1
    assert Application.objects.get(member=member).source == "api"


def test_invalid_answers_answer_400_per_question(api_operator):
    round, p = standard_round()
    payload = {"round": round.pk, "email": "x@example.com", "answers": [{"question": p["hours"].pk, "value": "many"}]}

    response = api_operator.post(APPLICATIONS, payload, format="json")

    assert response.status_code == 400
    assert set(response.json()) >= {f"q_{p['role'].pk}", f"q_{p['hours'].pk}"}
    assert not Application.objects.exists()


def test_an_operator_must_name_the_applicant(api_operator):
    round, p = standard_round()

    response = api_operator.post(APPLICATIONS, {"round": round.pk, "answers": answers_payload(p)}, format="json")

    assert response.status_code == 400 and "email" in response.json()


def test_a_member_applies_for_themselves_whatever_email_they_send(api_member, member):
    round, p = standard_round()

    response = api_member.post(
        APPLICATIONS, {"round": round.pk, "email": "someone@else.com", "answers": answers_payload(p)}, format="json"
    )

    assert response.status_code == 201
    assert Application.objects.get().member == member
    assert response.json()["score"] is None


def test_applying_to_a_closed_round_answers_400(api_member):
    round = RoundFactory(opens_at=timezone.now() - timedelta(days=9), closes_at=timezone.now() - timedelta(days=1))

    response = api_member.post(APPLICATIONS, {"round": round.pk}, format="json")

    assert response.status_code == 400 and "round" in response.json()


def test_anonymous_cannot_create_or_list(api_anon):
    assert api_anon.get(APPLICATIONS).status_code == 401
    assert api_anon.post(APPLICATIONS, {}, format="json").status_code == 401


# --- applications: read --------------------------------------------------------------------------------------


def test_a_member_sees_only_their_own_application_and_another_id_is_404(api_member, member, other_member):
    round, p = standard_round()
    mine = application_submit(round=round, member=member, answers=good_answers(p), actor=member.user).application
    theirs = application_submit(
        round=round, member=other_member, answers=good_answers(p), actor=other_member.user
    ).application

    listed = api_member.get(APPLICATIONS)
    assert [row["id"] for row in listed.json()["results"]] == [mine.pk]
    assert api_member.get(f"{APPLICATIONS}{mine.pk}/").status_code == 200
    assert api_member.get(f"{APPLICATIONS}{theirs.pk}/").status_code == 404


def test_operators_list_and_filter_with_a_constant_query_count(api_operator, django_assert_num_queries):
    from members.services.scoring import round_score

    round, p = standard_round()
    for number in range(6):
        member = MemberFactory()
        application = application_submit(round=round, member=member, answers=good_answers(p), actor=member.user)
        UsageMetric.objects.create(application=application.application, active_days_30=number * 5)
    ApplicationFactory(segment="students")
    round_score(round_id=round.pk)

    # operator check + the round filter's lookup + count + page (member, round, scorecard and usage joined in)
    with django_assert_num_queries(4):
        response = api_operator.get(APPLICATIONS, {"round": round.pk, "ordering": "-scorecard__total"})

    rows = response.json()["results"]
    assert len(rows) == 6
    totals = [float(row["score"]["total"]) for row in rows]
    assert totals == sorted(totals, reverse=True)
    assert rows[0]["score"]["top_usage"] is True
    assert "questions" in rows[0]["score"]["breakdown"]
    top = api_operator.get(APPLICATIONS, {"top_usage": "true", "round": round.pk}).json()
    assert top["count"] == 2
    assert api_operator.get(APPLICATIONS, {"segment": "students"}).json()["count"] == 1


# --- applications: decide ------------------------------------------------------------------------------------


def test_operators_decide_and_capacity_answers_400(api_operator):
    round = RoundFactory(capacity=1)
    first, second = ApplicationFactory(round=round), ApplicationFactory(round=round)

    accepted = api_operator.post(f"{APPLICATIONS}{first.pk}/decide/", {"status": "accepted"}, format="json")
    refused = api_operator.post(f"{APPLICATIONS}{second.pk}/decide/", {"status": "accepted"}, format="json")
    rejected = api_operator.post(
        f"{APPLICATIONS}{second.pk}/decide/", {"status": "rejected", "reason": "capacity"}, format="json"
    )

    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert refused.status_code == 400 and "full" in refused.json()["status"][0]
    assert rejected.status_code == 200 and rejected.json()["decision_reason"] == "capacity"


def test_operators_book_an_interview(api_operator):
    application = ApplicationFactory()
    when = (timezone.now() + timedelta(days=1)).isoformat()

    response = api_operator.post(
        f"{APPLICATIONS}{application.pk}/decide/",
        {"status": "interview", "interview_at": when, "location": "Room 3"},
        format="json",
    )

    assert response.status_code == 200 and response.json()["status"] == "interview"
    assert application.interviews.get().location == "Room 3"


def test_members_cannot_decide_even_their_own(api_member, member, api_other):
    application = ApplicationFactory(member=member)

    assert api_member.post(f"{APPLICATIONS}{application.pk}/decide/", {"status": "accepted"}).status_code == 403
    assert api_other.post(f"{APPLICATIONS}{application.pk}/decide/", {"status": "accepted"}).status_code == 403
    application.refresh_from_db()
    assert application.status == Application.Status.SUBMITTED


# --- usage metrics -----------------------------------------------------------------------------------------


def test_usage_upsert_reports_rows_and_imports_nothing_on_problems_unless_allowed(api_operator):
    round = RoundFactory()
    application = ApplicationFactory(round=round, member=MemberFactory(user=UserFactory(email="ann@example.com")))
    url = f"{ROUNDS}{round.pk}/usage-metrics/"
    rows = [
        {"email": "ann@example.com", "active_days_30": 12, "paid": True},
        {"email": "ghost@example.com", "active_days_30": 1},
    ]

    refused = api_operator.post(url, {"rows": rows}, format="json")
    assert refused.status_code == 400
    assert refused.json()["imported"] == 0
    assert [row["status"] for row in refused.json()["rows"]] == ["ok", "unknown"]
    assert not UsageMetric.objects.exists()

    partial = api_operator.post(url, {"rows": rows, "allow_partial": True}, format="json")
    assert partial.status_code == 200 and partial.json()["imported"] == 1
    assert UsageMetric.objects.get().application == application
    assert UsageMetric.objects.get().paid is True


def test_usage_upsert_is_for_operators(api_member):
    round = RoundFactory()

    assert api_member.post(f"{ROUNDS}{round.pk}/usage-metrics/", {"rows": [{}]}, format="json").status_code == 403


# --- members: personas, segments, filters ----------------------------------------------------------------------


def test_operators_filter_members_by_segment_persona_and_round(api_operator, django_assert_num_queries):
    from members.services.decisions import application_decide

    loyal = MemberFactory(segment="loyal", occupation="Product designer", interests="design, data", age_band="25-34")
    MemberFactory(segment="novice", occupation="Teacher")
    round = RoundFactory()
    application_decide(application=ApplicationFactory(round=round, member=loyal), status="accepted", actor=None)

    def ids(params):
        return [row["id"] for row in api_operator.get("/api/v1/members/", params).json()["results"]]

    assert ids({"segment": "loyal"}) == [loyal.pk]
    assert ids({"occupation": "designer"}) == [loyal.pk]
    assert ids({"interest": "data", "age_band": "25-34"}) == [loyal.pk]
    assert ids({"round": round.pk}) == [loyal.pk]
    row = api_operator.get(f"/api/v1/members/{loyal.pk}/").json()
    assert (row["segment"], row["status"], row["occupation"]) == ("loyal", "active", "Product designer")


def test_a_member_reads_and_updates_their_own_persona(api_member, member):
    response = api_member.patch(
        "/api/v1/members/me/persona/",
        {"age_band": "18-24", "occupation": "Student", "needs": "Cheaper plans"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    member.refresh_from_db()
    assert (member.age_band, member.occupation, member.needs) == ("18-24", "Student", "Cheaper plans")
    assert api_member.get("/api/v1/members/me/persona/").json()["occupation"] == "Student"
    assert api_member.patch("/api/v1/members/me/persona/", {"age_band": "99"}, format="json").status_code == 400


def test_members_cannot_list_members(api_member):
    assert api_member.get("/api/v1/members/", {"segment": "loyal"}).status_code == 403
