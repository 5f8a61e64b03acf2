"""Points API and portal: balance, history, awards and deductions with Idempotency-Key, the "My points" page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from community.models import AuditLog
from community.services import api_token_create
from rewards.models import MAX_ENTRY_POINTS, IdempotencyRecord, PointBalance, PointEntry
from rewards.selectors.ledger import balance_for_member
from rewards.services.checkin import checkin_perform
from rewards.services.ledger import points_award
from tests.factories import MemberFactory
from tests.rewards.factories_points import (
    LevelFactory,
    PointRuleFactory,
)
from tests.rewards.test_ledger import _run_parallel, assert_balances_match_ledger, needs_row_locks

pytestmark = pytest.mark.django_db

BALANCE_URL = "/api/v1/points/balance/"
ENTRIES_URL = "/api/v1/points/entries/"
AWARDS_URL = "/api/v1/points/awards/"
DEDUCTIONS_URL = "/api/v1/points/deductions/"


def give(member, amount, key, reason="gift"):
    return points_award(member=member, amount=amount, reason=reason, idempotency_key=key).entry


def post_change(client, url, body, key="key-1"):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(url, body, format="json", headers=headers)


def count_queries(client, url) -> int:
    client.get(url)  # the first request of a client also loads its account's roles, cached afterwards
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


# --- balance ------------------------------------------------------------------------------------------------------


def test_balance_shows_the_members_own_points_level_and_streak(api_member, api_other, api_operator, api_anon, member):
    LevelFactory(name="Newcomer", threshold=0)
    LevelFactory(name="Active", threshold=100)
    give(member, 40, "a")
    PointRuleFactory(verb="checked_in", points=2)
    checkin_perform(member=member)
    body = api_member.get(BALANCE_URL).json()
    assert (body["lifetime"], body["spendable"], body["points_to_next"], body["progress_percent"]) == (42, 42, 58, 42)
    assert body["level"]["name"] == "Newcomer" and body["next_level"]["name"] == "Active"
    assert body["streak"] == {"current": 1, "longest": 1, "checked_in_today": True}
    other = api_other.get(BALANCE_URL).json()
    assert (other["lifetime"], other["streak"]["current"]) == (0, 0)
    assert api_operator.get(BALANCE_URL).json()["lifetime"] == 0
    assert api_anon.get(BALANCE_URL).status_code == 401


# --- history ------------------------------------------------------------------------------------------------------


def test_members_see_only_their_own_entries(api_member, api_other, api_anon, member, other_member):
    mine = give(member, 5, "m")
    theirs = give(other_member, 7, "o")
    response = api_member.get(ENTRIES_URL)
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]
    assert response.json()["results"][0]["reason"] == "gift"
    assert api_member.get(f"{ENTRIES_URL}{theirs.pk}/").status_code == 404
    assert api_member.get(f"{ENTRIES_URL}{mine.pk}/").status_code == 200
    assert api_member.get(ENTRIES_URL, {"member": other_member.pk}).json()["results"] == []
    assert [row["id"] for row in api_other.get(ENTRIES_URL).json()["results"]] == [theirs.pk]
    assert api_anon.get(ENTRIES_URL).status_code == 401


def test_operators_see_everyones_entries_and_filter_by_member(api_operator, member, other_member):
    give(member, 5, "m")
    theirs = give(other_member, 7, "o")
    assert api_operator.get(ENTRIES_URL).json()["count"] == 2
    filtered = api_operator.get(ENTRIES_URL, {"member": other_member.pk}).json()
    assert [row["id"] for row in filtered["results"]] == [theirs.pk]
    assert api_operator.get(ENTRIES_URL, {"member": "abc"}).status_code == 400
    assert api_operator.get(ENTRIES_URL, {"member": 2**70}).status_code == 400


def test_the_history_endpoint_takes_the_same_queries_for_few_and_many_entries(api_member, api_operator, member):
    give(member, 1, "first")
    few_member, few_operator = count_queries(api_member, ENTRIES_URL), count_queries(api_operator, ENTRIES_URL)
    for index in range(30):
        give(member if index % 2 else MemberFactory(), 1, f"more-{index}")
    assert count_queries(api_member, ENTRIES_URL) == few_member
    assert count_queries(api_operator, ENTRIES_URL) == few_operator


# --- awards with Idempotency-Key -----------------------------------------------------------------------------------


def test_an_operator_awards_points_and_a_retry_replays_the_response(api_operator, operator, member):
    body = {"member": member.pk, "amount": 25, "reason": "Meetup speaker"}
    first = post_change(api_operator, AWARDS_URL, body)
    assert first.status_code == 201
    assert first.json()["entry"]["lifetime_delta"] == 25
    assert first.json()["balance"] == {"lifetime": 25, "spendable": 25}
    retry = post_change(api_operator, AWARDS_URL, body)
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert PointEntry.objects.filter(member=member).count() == 1
    assert balance_for_member(member=member).lifetime == 25
    record = IdempotencyRecord.objects.get(user=operator.user, key="key-1")
    assert (record.response_status, len(record.request_fingerprint)) == (201, 64)
    assert AuditLog.objects.filter(action="points.earn", actor=operator.user).count() == 1


def test_the_same_key_with_a_different_body_is_refused_with_422(api_operator, member, other_member):
    assert post_change(api_operator, AWARDS_URL, {"member": member.pk, "amount": 25, "reason": "x"}).status_code == 201
    changed = post_change(api_operator, AWARDS_URL, {"member": member.pk, "amount": 26, "reason": "x"})
    assert changed.status_code == 422
    other = post_change(api_operator, AWARDS_URL, {"member": other_member.pk, "amount": 25, "reason": "x"})
    assert other.status_code == 422
    same_key_elsewhere = post_change(api_operator, DEDUCTIONS_URL, {"member": member.pk, "amount": 25, "reason": "x"})
    assert same_key_elsewhere.status_code == 422
    assert PointEntry.objects.count() == 1 and balance_for_member(member=member).lifetime == 25


def test_keys_belong_to_the_account_that_sent_them(api_operator, member, other_member):
    from community import roles
    from tests.factories import staff_member

    second_operator = APIClient()
    second_operator.force_authenticate(staff_member(roles.OPERATOR).user)
    assert post_change(api_operator, AWARDS_URL, {"member": member.pk, "amount": 5, "reason": "x"}).status_code == 201
    theirs = post_change(second_operator, AWARDS_URL, {"member": other_member.pk, "amount": 6, "reason": "y"})
    assert theirs.status_code == 201
    assert PointEntry.objects.count() == 2


def test_the_idempotency_key_header_is_required(api_operator, member):
    response = post_change(api_operator, AWARDS_URL, {"member": member.pk, "amount": 5, "reason": "x"}, key=None)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()
    too_long = post_change(api_operator, AWARDS_URL, {"member": member.pk, "amount": 5, "reason": "x"}, key="k" * 129)
    assert too_long.status_code == 400 and "Idempotency-Key" in too_long.json()
    assert not PointEntry.objects.exists() and not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True, None, MAX_ENTRY_POINTS + 1, 2**63, 10**30])
def test_bad_amounts_answer_400_with_a_field_error(api_operator, member, amount):
    response = post_change(api_operator, AWARDS_URL, {"member": member.pk, "amount": amount, "reason": "x"})
    assert response.status_code == 400
    assert "amount" in response.json()
    assert not PointEntry.objects.exists() and not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 5, "reason": "x"}, "member"),
        ({"member": 999_999_999, "amount": 5, "reason": "x"}, "member"),
        ({"member": 2**70, "amount": 5, "reason": "x"}, "member"),
        ({"member": "me", "amount": 5, "reason": "x"}, "member"),
        ({"MEMBER": 1, "amount": 5}, "reason"),
        ({"amount": 5, "reason": "x" * 201}, "reason"),
    ],
)
def test_bad_bodies_answer_400_and_leave_the_key_free(api_operator, member, body, field):
    response = post_change(api_operator, AWARDS_URL, body)
    assert response.status_code == 400 and field in response.json()
    fixed = post_change(api_operator, AWARDS_URL, {"member": member.pk, "amount": 5, "reason": "fixed"})
    assert fixed.status_code == 201


def test_members_cannot_award_or_deduct(api_member, api_other, api_anon, member, other_member):
    for url in (AWARDS_URL, DEDUCTIONS_URL):
        assert post_change(api_member, url, {"member": member.pk, "amount": 5, "reason": "me"}).status_code == 403
        assert post_change(api_member, url, {"member": other_member.pk, "amount": 5, "reason": "x"}).status_code == 403
        assert post_change(api_other, url, {"member": member.pk, "amount": 5, "reason": "x"}).status_code == 403
        assert post_change(api_anon, url, {"member": member.pk, "amount": 5, "reason": "x"}).status_code == 401
    assert not PointEntry.objects.exists() and not IdempotencyRecord.objects.exists()


def test_operators_cannot_award_themselves(api_operator, operator):
    response = post_change(api_operator, AWARDS_URL, {"member": operator.pk, "amount": 5, "reason": "me"})
    assert response.status_code == 403
    assert not PointEntry.objects.exists() and not IdempotencyRecord.objects.exists()


def test_integrations_use_an_operator_accounts_token(operator, member):
    _token, raw_key = api_token_create(user=operator.user, name="CRM")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert post_change(client, AWARDS_URL, {"member": member.pk, "amount": 9, "reason": "CRM"}).status_code == 201
    _token, member_key = api_token_create(user=member.user, name="script")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {member_key}")
    assert (
        post_change(client, AWARDS_URL, {"member": member.pk, "amount": 9, "reason": "me"}, key="k2").status_code == 403
    )
    assert balance_for_member(member=member).lifetime == 9


def test_deductions_take_at_most_what_the_member_has(api_operator, member, other_member):
    give(member, 30, "start")
    first = post_change(api_operator, DEDUCTIONS_URL, {"member": member.pk, "amount": 20, "reason": "spam"}, key="d1")
    assert first.status_code == 201 and first.json()["entry"]["spendable_delta"] == -20
    capped = post_change(api_operator, DEDUCTIONS_URL, {"member": member.pk, "amount": 50, "reason": "spam"}, key="d2")
    assert capped.json()["entry"]["spendable_delta"] == -10 and capped.json()["balance"] == {
        "lifetime": 0,
        "spendable": 0,
    }
    nothing = post_change(
        api_operator, DEDUCTIONS_URL, {"member": other_member.pk, "amount": 5, "reason": "x"}, key="d3"
    )
    assert (nothing.status_code, nothing.json()["entry"]) == (200, None)
    replay = post_change(api_operator, DEDUCTIONS_URL, {"member": member.pk, "amount": 20, "reason": "spam"}, key="d1")
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert PointEntry.objects.filter(kind="deduct").count() == 2
    assert_balances_match_ledger()


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_racing_requests_with_one_key_award_once():
    from community import roles
    from tests.factories import staff_member

    operator, member = staff_member(roles.OPERATOR), MemberFactory()
    body = {"member": member.pk, "amount": 15, "reason": "Race"}

    def send(i):
        client = APIClient()
        client.force_authenticate(operator.user)
        response = post_change(client, AWARDS_URL, body, key="race")
        return response.status_code, response.json()

    results = _run_parallel(40, 20, send)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert {status for status, _body in results} == {201}
    assert all(body == results[0][1] for _status, body in results)  # every caller got the first response
    assert PointEntry.objects.filter(member=member).count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert balance_for_member(member=member).lifetime == 15
    assert_balances_match_ledger()


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_racing_requests_with_one_key_and_different_bodies_award_once():
    from community import roles
    from tests.factories import staff_member

    operator, member = staff_member(roles.OPERATOR), MemberFactory()

    def send(i):
        client = APIClient()
        client.force_authenticate(operator.user)
        return post_change(client, AWARDS_URL, {"member": member.pk, "amount": 1 + i % 2, "reason": "r"}, key="k")

    results = _run_parallel(20, 20, send)
    codes = sorted(r.status_code for r in results)
    assert set(codes) <= {201, 422} and 201 in codes and 422 in codes
    entry = PointEntry.objects.get(member=member)
    winners = {r.json()["entry"]["lifetime_delta"] for r in results if r.status_code == 201}
    assert winners == {entry.lifetime_delta}
    assert_balances_match_ledger()


# --- the "My points" page ------------------------------------------------------------------------------------------


def test_my_points_page_shows_balances_progress_streak_and_history(web_member, member, other_member):
    LevelFactory(name="Newcomer", threshold=0)
    LevelFactory(name="Active", threshold=100)
    give(member, 60, "a", reason="Conference talk")
    give(other_member, 999, "o", reason="Someone else's award")
    body = web_member.get(reverse("rewards:points")).content.decode()
    assert "Conference talk" in body and "Someone else&#x27;s award" not in body
    assert 'value="60"' in body  # the progress bar: 60 of the 100 points between Newcomer and Active
    assert "40 more points to reach Active." in body
    assert "Check in" in body


def test_my_points_page_paginates_history_in_constant_queries(web_member, member):
    url = reverse("rewards:points")
    PointRuleFactory(verb="survey_answered", points=5, daily_cap=2, description="Tell us **what you think**.")
    give(member, 1, "first")
    with CaptureQueriesContext(connection) as few:
        web_member.get(url)
    for index in range(45):
        give(member, 1, f"more-{index}", reason=f"Award {index}")
    with CaptureQueriesContext(connection) as many:
        response = web_member.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)
    body = response.content.decode()
    assert "Award 44" in body and "Award 20" not in body and "Page 1 of 3" in body
    assert "<strong>what you think</strong>" in body and "at most 2 a day" in body
    assert "Award 20" in web_member.get(url, {"page": 2}).content.decode()
    assert web_member.get(url, {"page": "nonsense"}).status_code == 200


def test_my_points_page_needs_sign_in_and_shows_each_member_their_own(client, web_operator, operator, member):
    give(member, 77, "m")
    assert web_operator.get(reverse("rewards:points")).status_code == 200
    assert ">77<" not in web_operator.get(reverse("rewards:points")).content.decode()
    client.logout()
    response = client.get(reverse("rewards:points"))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_written_out_entry_body_matches_the_documented_serializer(member):
    from rewards.api.points import PointEntrySerializer, _entry_body
    from rewards.services.ledger import points_award

    result = points_award(member=member, amount=7, reason="shape", idempotency_key="shape-1")
    entry = PointEntry.objects.get(pk=result.entry.pk)
    assert _entry_body(result.entry) == dict(PointEntrySerializer(entry).data)


def test_a_token_award_reads_the_token_account_profile_and_roles_in_one_query(operator, member):
    _token, raw_key = api_token_create(user=operator.user, name="CRM")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    with CaptureQueriesContext(connection) as queries:
        response = post_change(client, AWARDS_URL, {"member": member.pk, "amount": 3, "reason": "CRM"}, key="one")
    assert response.status_code == 201
    role_reads = [q["sql"] for q in queries.captured_queries if "auth_group" in q["sql"]]
    assert len(role_reads) == 1 and "community_apitoken" in role_reads[0]


def test_an_award_to_a_member_with_points_does_not_look_the_member_up(api_operator, member):
    give(member, 5, "first")  # the balance row exists from now on
    with CaptureQueriesContext(connection) as queries:
        response = post_change(api_operator, AWARDS_URL, {"member": member.pk, "amount": 3, "reason": "again"})
    assert response.status_code == 201 and response.json()["balance"] == {"lifetime": 8, "spendable": 8}
    member_reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "members_member"')]
    assert member_reads == []


def test_an_unknown_member_is_refused_by_the_ledger_with_the_field(api_operator, member):
    for url in (AWARDS_URL, DEDUCTIONS_URL):
        response = post_change(api_operator, url, {"member": member.pk + 1000, "amount": 3, "reason": "x"}, key=url)
        assert response.status_code == 400 and "member" in response.json()
    assert not PointEntry.objects.exists() and not IdempotencyRecord.objects.exists()
    assert not PointBalance.objects.exists()
