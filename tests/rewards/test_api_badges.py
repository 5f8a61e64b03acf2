"""Badges over the API: the catalogue, awards (own / operators all), operators' grant and revoke."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from community.models import AuditLog
from members.models import User
from rewards.models import BadgeAward
from rewards.services.badges import badge_grant, badge_revoke
from tests.factories import MemberFactory
from tests.rewards.factories_badges import BadgeFactory

pytestmark = pytest.mark.django_db

BADGES = "/api/v1/badges/"
AWARDS = "/api/v1/badge-awards/"
GRANT = "/api/v1/badge-awards/grant/"


def fresh(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=user.pk))
    return client


def count_queries(client: APIClient, path: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path, params or {}).status_code == 200
    return len(captured)


@pytest.fixture
def catalogue(db):
    return {
        "streak": BadgeFactory(slug="week-streak", name="7-day streak", criteria={"type": "streak", "days": 7}),
        "title": BadgeFactory(slug="super-user", name="超级用户", is_title=True, tier="gold"),
        "hidden": BadgeFactory(slug="retired", name="Retired", is_active=False),
    }


@pytest.fixture
def awards(catalogue, member, other_member, operator):
    return {
        "member": badge_grant(badge=catalogue["title"], member=member, actor=operator.user),
        "other": badge_grant(badge=catalogue["streak"], member=other_member, actor=operator.user),
    }


# --- catalogue ---------------------------------------------------------------------------------------------


def test_anonymous_callers_are_401(api_anon, awards):
    for path in (BADGES, f"{BADGES}super-user/", AWARDS, f"{AWARDS}{awards['member'].pk}/"):
        assert api_anon.get(path).status_code == 401
    assert api_anon.post(GRANT, {}).status_code == 401
    assert api_anon.post(f"{AWARDS}{awards['member'].pk}/revoke/", {"reason": "x"}).status_code == 401


def test_members_see_active_badges_with_their_own_status(api_member, api_other, awards):
    listed = api_member.get(BADGES).json()["results"]
    assert {row["slug"]: row["earned"] for row in listed} == {"super-user": True, "week-streak": False}
    assert {row["slug"]: row["earned"] for row in api_other.get(BADGES).json()["results"]} == {
        "super-user": False,
        "week-streak": True,
    }
    title = next(row for row in listed if row["slug"] == "super-user")
    assert title["holders"] == 1 and title["is_title"] and title["name"] == "超级用户"
    assert title["badge_class_url"].endswith("/rewards/badges/ob/classes/super-user.json")
    assert title["image"].endswith("/rewards/badges/ob/classes/super-user.svg")


def test_operators_also_see_inactive_badges(api_operator, api_member, catalogue):
    assert {row["slug"] for row in api_operator.get(BADGES).json()["results"]} == {
        "week-streak",
        "super-user",
        "retired",
    }
    assert api_operator.get(f"{BADGES}retired/").status_code == 200
    assert api_member.get(f"{BADGES}retired/").status_code == 404


def test_badge_detail(api_member, awards):
    response = api_member.get(f"{BADGES}week-streak/")
    assert response.status_code == 200
    assert response.json()["criteria_explained"] == "Check in 7 days in a row." and response.json()["earned"] is False
    assert api_member.get(f"{BADGES}no-such-badge/").status_code == 404


def test_badge_filters(api_member, catalogue):
    assert [row["slug"] for row in api_member.get(BADGES, {"is_title": "true"}).json()["results"]] == ["super-user"]
    assert api_member.get(BADGES, {"tier": "platinum"}).status_code == 400


def test_the_badge_list_has_a_constant_query_count(member, operator, catalogue):
    few = count_queries(fresh(member.user), BADGES)
    for _ in range(5):
        badge = BadgeFactory()
        badge_grant(badge=badge, member=member, actor=operator.user)
        badge_grant(badge=badge, member=MemberFactory(), actor=operator.user)
    assert count_queries(fresh(member.user), BADGES) == few


# --- awards ------------------------------------------------------------------------------------------------


def test_members_list_only_their_own_awards(api_member, api_other, awards, member):
    rows = api_member.get(AWARDS).json()["results"]
    assert [row["id"] for row in rows] == [awards["member"].pk]
    assert rows[0]["member"] == {"id": member.pk, "display_name": "Lin Mei"}
    assert rows[0]["granted"] is True
    assert rows[0]["assertion_url"].endswith(f"/assertions/{awards['member'].assertion_uuid}.json")
    # Filtering by another member does not widen what a member sees.
    assert api_member.get(AWARDS, {"member": awards["other"].member_id}).json()["results"] == []
    assert api_member.get(f"{AWARDS}{awards['other'].pk}/").status_code == 404
    assert api_other.get(f"{AWARDS}{awards['other'].pk}/").status_code == 200


def test_operators_list_every_award_and_filter(api_operator, awards, other_member):
    assert {row["id"] for row in api_operator.get(AWARDS).json()["results"]} == {a.pk for a in awards.values()}
    by_member = api_operator.get(AWARDS, {"member": other_member.pk}).json()["results"]
    assert [row["id"] for row in by_member] == [awards["other"].pk]
    by_badge = api_operator.get(AWARDS, {"badge": "super-user"}).json()["results"]
    assert [row["id"] for row in by_badge] == [awards["member"].pk]
    assert api_operator.get(AWARDS, {"member": "abc"}).status_code == 400


def test_the_revoked_filter(api_operator, awards, operator):
    badge_revoke(award=awards["other"], actor=operator.user, reason="test")
    revoked = api_operator.get(AWARDS, {"revoked": "true"}).json()["results"]
    assert [row["id"] for row in revoked] == [awards["other"].pk] and revoked[0]["revoked_reason"] == "test"
    assert [row["id"] for row in api_operator.get(AWARDS, {"revoked": "false"}).json()["results"]] == [
        awards["member"].pk
    ]


def test_the_award_list_has_a_constant_query_count(operator, member, catalogue):
    badge_grant(badge=catalogue["title"], member=member, actor=operator.user)
    few = count_queries(fresh(operator.user), AWARDS), count_queries(fresh(member.user), AWARDS)
    for _ in range(6):
        badge = BadgeFactory()
        badge_grant(badge=badge, member=MemberFactory(), actor=operator.user)
        badge_grant(badge=badge, member=member, actor=operator.user)
    assert (count_queries(fresh(operator.user), AWARDS), count_queries(fresh(member.user), AWARDS)) == few


def test_award_ids_that_are_not_numbers_are_404(api_member):
    assert api_member.get(f"{AWARDS}abc/").status_code == 404
    assert api_member.get(f"{AWARDS}99999999999999999999999/").status_code == 404


# --- grant and revoke --------------------------------------------------------------------------------------


def test_members_cannot_grant_or_revoke(api_member, awards, member, catalogue):
    assert api_member.post(GRANT, {"badge": "week-streak", "member": member.pk}).status_code == 403
    assert api_member.post(f"{AWARDS}{awards['member'].pk}/revoke/", {"reason": "x"}).status_code == 403
    assert BadgeAward.objects.filter(member=member).count() == 1


def test_operators_grant(api_operator, operator, other_member, catalogue):
    response = api_operator.post(GRANT, {"badge": "super-user", "member": other_member.pk, "reason": "Expert"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["badge"]["slug"] == "super-user" and body["member"]["id"] == other_member.pk
    assert body["evidence"] == {"granted": True, "reason": "Expert"}
    assert AuditLog.objects.filter(action="badge.grant", actor=operator.user).count() == 1
    again = api_operator.post(GRANT, {"badge": "super-user", "member": other_member.pk})
    assert again.status_code == 400 and "member" in again.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"member": 1}, "badge"),
        ({"badge": "no-such-badge", "member": 1}, "badge"),
        ({"badge": "super-user"}, "member"),
        ({"badge": "super-user", "member": 999999}, "member"),
        ({"badge": "super-user", "member": "x"}, "member"),
        ({"badge": "retired", "member": None}, "member"),
        ({"badge": "super-user", "member": 1, "reason": "x" * 201}, "reason"),
    ],
)
def test_bad_grants_answer_400_with_the_field(api_operator, catalogue, body, field):
    response = api_operator.post(GRANT, body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not BadgeAward.objects.exists()


def test_grants_of_inactive_badges_and_to_oneself_are_refused(api_operator, operator, member, catalogue):
    inactive = api_operator.post(GRANT, {"badge": "retired", "member": member.pk})
    assert inactive.status_code == 400 and "badge" in inactive.json()
    self_grant = api_operator.post(GRANT, {"badge": "super-user", "member": operator.pk})
    assert self_grant.status_code == 400 and "member" in self_grant.json()


def test_operators_revoke(api_operator, operator, awards):
    url = f"{AWARDS}{awards['member'].pk}/revoke/"
    assert api_operator.post(url, {}).status_code == 400
    assert api_operator.post(url, {"reason": ""}).status_code == 400
    response = api_operator.post(url, {"reason": "Left the program"})
    assert response.status_code == 200
    assert response.json()["revoked_reason"] == "Left the program" and response.json()["revoked_at"]
    assert AuditLog.objects.filter(action="badge.revoke", actor=operator.user).exists()
    again = api_operator.post(url, {"reason": "twice"})
    assert again.status_code == 400
    assert api_operator.post(f"{AWARDS}999999/revoke/", {"reason": "x"}).status_code == 404
