"""API tokens: create, list and revoke them over the API, then authenticate with them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from community import roles, services
from community.authentication import api_token_cache_forget
from community.models import ApiToken, AuditLog
from members.models import User
from tests.factories import UserFactory

TOKENS = "/api/v1/tokens/"
ME = "/api/v1/members/me/"
UNREAD = "/api/v1/notifications/unread-count/"
# count + page of tokens; the same however many tokens the account has.
TOKEN_LIST_QUERIES = 2


def token_client(raw_key: str, keyword: str = "Bearer", **kwargs: object) -> APIClient:
    client = APIClient(**kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {raw_key}")
    return client


def fresh_client(user: User) -> APIClient:
    """A client signed in as a freshly loaded user, so nothing cached on an earlier request's user is reused."""
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=user.pk))
    return client


@pytest.fixture
def member_key(member) -> str:
    _token, raw_key = services.api_token_create(user=member.user, name="ci")
    return raw_key


# --- create -----------------------------------------------------------------------------------------------


def test_create_returns_the_secret_once_and_stores_only_its_hash(api_member, member):
    response = api_member.post(TOKENS, {"name": "  importer  "}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    key = body["key"]
    assert key.startswith("hth_")
    assert body["name"] == "importer"
    assert body["prefix"] == key[4:12]
    assert body["is_active"] is True
    assert body["revoked_at"] is None and body["last_used_at"] is None
    token = ApiToken.objects.get(pk=body["id"])
    assert token.user == member.user
    assert token.key_hash == services.api_token_hash(key)
    assert key not in token.key_hash
    assert AuditLog.objects.filter(action="api_token.create", object_id=str(token.pk)).exists()

    listed = api_member.get(TOKENS).json()["results"]
    assert [row["id"] for row in listed] == [token.pk]
    assert "key" not in listed[0] and "key_hash" not in listed[0]


def test_create_with_a_future_expiry(api_member):
    expires = timezone.now() + timedelta(days=30)
    response = api_member.post(TOKENS, {"name": "quarterly", "expires_at": expires.isoformat()}, format="json")

    assert response.status_code == 201, response.content
    token = ApiToken.objects.get(pk=response.json()["id"])
    assert abs(token.expires_at - expires) < timedelta(seconds=1)
    assert token.is_active


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": ["ci"]}, "name"),
        ({"name": {"x": 1}}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": "ci\x00"}, "name"),
        ({"name": "ci", "expires_at": "next tuesday"}, "expires_at"),
        ({"name": "ci", "expires_at": 12}, "expires_at"),
        ({"name": "ci", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_create_rejects_bad_input_with_a_field_error(api_member, member, payload, field):
    response = api_member.post(TOKENS, payload, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not ApiToken.objects.filter(user=member.user).exists()


@pytest.mark.parametrize("body", ["[]", '"ci"', "null", '{"name": "ci"', "name=ci"])
def test_create_rejects_a_body_that_is_not_a_json_object(api_member, member, body):
    response = api_member.generic("POST", TOKENS, body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert not ApiToken.objects.filter(user=member.user).exists()


def test_an_account_may_hold_several_named_tokens(api_member, member):
    keys = {}
    for name in ("ci", "importer", "dashboard"):
        response = api_member.post(TOKENS, {"name": name}, format="json")
        assert response.status_code == 201, response.content
        keys[name] = response.json()["key"]

    assert len(set(keys.values())) == 3
    assert sorted(row["name"] for row in api_member.get(TOKENS).json()["results"]) == ["ci", "dashboard", "importer"]
    for key in keys.values():
        response = token_client(key).get(ME)
        assert response.status_code == 200
        assert response.json()["id"] == member.pk


def test_a_duplicate_active_name_is_a_field_error(api_member, member):
    assert api_member.post(TOKENS, {"name": "ci"}, format="json").status_code == 201

    response = api_member.post(TOKENS, {"name": " ci "}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert ApiToken.objects.filter(user=member.user).count() == 1


def test_a_revoked_tokens_name_may_be_used_again(api_member, member):
    first = api_member.post(TOKENS, {"name": "ci"}, format="json").json()
    assert api_member.delete(f"{TOKENS}{first['id']}/").status_code == 204

    response = api_member.post(TOKENS, {"name": "ci"}, format="json")

    assert response.status_code == 201, response.content
    assert ApiToken.objects.filter(user=member.user, name="ci").count() == 2


def test_every_persona_creates_their_own_token_and_names_may_repeat_across_accounts(
    api_operator, api_member, api_other, operator, member, other_member
):
    for person, client in ((operator, api_operator), (member, api_member), (other_member, api_other)):
        response = client.post(TOKENS, {"name": "ci"}, format="json")
        assert response.status_code == 201, response.content
        assert ApiToken.objects.get(pk=response.json()["id"]).user == person.user
        assert token_client(response.json()["key"]).get(ME).json()["id"] == person.pk


# --- list -------------------------------------------------------------------------------------------------


def test_each_persona_lists_only_their_own_tokens(api_operator, api_member, api_other, operator, member, other_member):
    owners = {operator: api_operator, member: api_member, other_member: api_other}
    expected = {person: services.api_token_create(user=person.user, name=f"t-{person.pk}")[0].pk for person in owners}

    for person, client in owners.items():
        response = client.get(TOKENS)
        assert response.status_code == 200
        assert [row["id"] for row in response.json()["results"]] == [expected[person]]


def test_list_shows_revoked_and_expired_tokens_as_inactive(api_member, member):
    revoked, _key = services.api_token_create(user=member.user, name="old")
    services.api_token_revoke(actor=member.user, token=revoked)
    expired, _key = services.api_token_create(user=member.user, name="expired")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    live, _key = services.api_token_create(user=member.user, name="live")

    rows = {row["id"]: row for row in api_member.get(TOKENS).json()["results"]}

    assert rows[live.pk]["is_active"] is True
    assert rows[revoked.pk]["is_active"] is False and rows[revoked.pk]["revoked_at"] is not None
    assert rows[expired.pk]["is_active"] is False


@pytest.mark.parametrize("size", [3, 30])
def test_list_query_count_does_not_grow_with_tokens(member, django_assert_num_queries, size):
    for n in range(size):
        services.api_token_create(user=member.user, name=f"token {n}")
    client = fresh_client(member.user)

    with django_assert_num_queries(TOKEN_LIST_QUERIES):
        response = client.get(TOKENS)

    assert response.status_code == 200
    assert response.json()["count"] == size


# --- revoke -----------------------------------------------------------------------------------------------


def test_revoking_a_token_stops_it_working(api_member, member, member_key):
    token = ApiToken.objects.get(user=member.user)
    assert token_client(member_key).get(ME).status_code == 200

    response = api_member.delete(f"{TOKENS}{token.pk}/")

    assert response.status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditLog.objects.filter(action="api_token.revoke", object_id=str(token.pk)).exists()
    answer = token_client(member_key).get(ME)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoking_twice_keeps_the_first_revocation_time(api_member, member, member_key):
    token = ApiToken.objects.get(user=member.user)
    assert api_member.delete(f"{TOKENS}{token.pk}/").status_code == 204
    token.refresh_from_db()
    first = token.revoked_at

    assert api_member.delete(f"{TOKENS}{token.pk}/").status_code == 204

    token.refresh_from_db()
    assert token.revoked_at == first


def test_revoking_one_token_leaves_the_others_working(api_member, member):
    _ci, ci_key = services.api_token_create(user=member.user, name="ci")
    importer, importer_key = services.api_token_create(user=member.user, name="importer")

    assert api_member.delete(f"{TOKENS}{importer.pk}/").status_code == 204

    assert token_client(importer_key).get(ME).status_code == 401
    assert token_client(ci_key).get(ME).status_code == 200


@pytest.mark.parametrize(("who", "whose"), [("api_operator", "operator"), ("api_other", "other_member")])
def test_each_persona_revokes_their_own_token(request, who, whose):
    token, _key = services.api_token_create(user=request.getfixturevalue(whose).user, name="mine")

    assert request.getfixturevalue(who).delete(f"{TOKENS}{token.pk}/").status_code == 204

    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.parametrize("who", ["api_other", "api_operator"])
def test_nobody_else_can_revoke_a_members_token(request, member, member_key, who):
    token = ApiToken.objects.get(user=member.user)

    response = request.getfixturevalue(who).delete(f"{TOKENS}{token.pk}/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert token_client(member_key).get(ME).status_code == 200


@pytest.mark.parametrize("pk", ["999999", "abc", "1.5", "99999999999999999999999"])
def test_revoking_an_unknown_or_malformed_id_is_404(api_member, pk):
    assert api_member.delete(f"{TOKENS}{pk}/").status_code == 404


def test_a_token_can_revoke_itself(member, member_key):
    token = ApiToken.objects.get(user=member.user)
    client = token_client(member_key)

    assert client.delete(f"{TOKENS}{token.pk}/").status_code == 204
    assert client.get(ME).status_code == 401


# --- anonymous --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("get", TOKENS), ("post", TOKENS), ("delete", f"{TOKENS}1/")])
def test_anonymous_is_401_with_a_bearer_challenge(api_anon, method, path):
    response = getattr(api_anon, method)(path, {"name": "x"} if method == "post" else None, format="json")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


# --- authenticating with a token --------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer", "TOKEN"])
def test_both_keywords_authenticate_as_the_tokens_owner(member, member_key, keyword):
    response = token_client(member_key, keyword).get(ME)

    assert response.status_code == 200
    assert response.json()["id"] == member.pk


def test_token_authentication_identifies_each_persona(operator, member, other_member):
    for person in (operator, member, other_member):
        _token, key = services.api_token_create(user=person.user, name="who am i")
        assert token_client(key).get(ME).json()["id"] == person.pk


def test_an_operators_token_carries_operator_rights(operator, member):
    _token, key = services.api_token_create(user=operator.user, name="reports")
    _token, member_key = services.api_token_create(user=member.user, name="reports")

    assert token_client(key).get("/api/v1/members/").status_code == 200
    assert token_client(member_key).get("/api/v1/members/").status_code == 403


def test_a_token_needs_no_csrf_token_for_writes(member, member_key):
    client = token_client(member_key, enforce_csrf_checks=True)

    response = client.post("/api/v1/notifications/mark-read/", {}, format="json")

    assert response.status_code == 200, response.content


def test_a_session_write_without_its_csrf_token_is_403(member):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member.user)
    token, _key = services.api_token_create(user=member.user, name="ci")

    assert client.get(TOKENS).status_code == 200
    assert client.post(TOKENS, {"name": "sneaky"}, format="json").status_code == 403
    assert client.delete(f"{TOKENS}{token.pk}/").status_code == 403
    assert list(ApiToken.objects.filter(user=member.user).values_list("name", "revoked_at")) == [("ci", None)]


def test_an_expired_token_is_401(member, member_key):
    ApiToken.objects.filter(user=member.user).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = token_client(member_key).get(ME)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_token_of_a_deactivated_account_is_401(member, member_key):
    User.objects.filter(pk=member.user_id).update(is_active=False)

    assert token_client(member_key).get(ME).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Token",
        "Bearer one two",
        "Bearer hth_not-a-real-token",
        "Token hth_",
        "Bearer \u00e9\u00e8",
    ],
)
def test_a_malformed_or_unknown_token_is_401(member, member_key, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(ME)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_another_scheme_is_not_taken_for_a_token(member, member_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {member_key}")

    response = client.get(ME)

    assert response.status_code == 401


def test_the_key_with_a_keyword_glued_on_is_not_accepted(member, member_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer{member_key}")

    assert client.get(ME).status_code == 401


def test_using_a_token_records_when_it_was_last_used(member, member_key):
    token = ApiToken.objects.get(user=member.user)
    assert token.last_used_at is None
    before = timezone.now()

    assert token_client(member_key).get(UNREAD).status_code == 200

    token.refresh_from_db()
    assert token.last_used_at is not None
    assert before <= token.last_used_at <= timezone.now()


def test_last_used_is_not_rewritten_on_every_call(member, member_key):
    token = ApiToken.objects.get(user=member.user)
    recent = timezone.now() - timedelta(seconds=10)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recent)

    assert token_client(member_key).get(UNREAD).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == recent

    stale = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    api_token_cache_forget()  # a table update behind the services' back: as if the process's copy had aged out
    assert token_client(member_key).get(UNREAD).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at > stale + timedelta(minutes=4)


def test_a_token_only_reaches_its_owners_data(member, other_member, member_key):
    other_token, _key = services.api_token_create(user=other_member.user, name="theirs")
    client = token_client(member_key)

    assert client.get(f"/api/v1/members/{other_member.pk}/").status_code == 404
    assert client.delete(f"{TOKENS}{other_token.pk}/").status_code == 404
    assert [row["name"] for row in client.get(TOKENS).json()["results"]] == ["ci"]


def test_an_account_without_a_member_profile_can_hold_tokens(db):
    user = UserFactory()
    client = APIClient()
    client.force_authenticate(user)

    response = client.post(TOKENS, {"name": "service"}, format="json")

    assert response.status_code == 201, response.content
    key = response.json()["key"]
    assert token_client(key).get(TOKENS).status_code == 200
    # Member-only endpoints refuse such an account rather than failing.
    assert token_client(key).get(ME).status_code == 403


# --- the process's copy of a token ---------------------------------------------------------------------------


def _token_queries(captured) -> int:
    return sum(1 for query in captured if ApiToken._meta.db_table in query["sql"] and "key_hash" in query["sql"])


def test_repeated_calls_with_one_token_look_it_up_once(member, member_key):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = token_client(member_key)
    with CaptureQueriesContext(connection) as first:
        assert client.get(UNREAD).status_code == 200
    with CaptureQueriesContext(connection) as again:
        assert client.get(UNREAD).status_code == 200
        assert client.get(ME).json()["id"] == member.pk

    assert _token_queries(first.captured_queries) == 1
    assert _token_queries(again.captured_queries) == 0


def test_with_no_cache_time_every_call_looks_the_token_up(member, member_key, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.API_TOKEN_CACHE_SECONDS = 0
    client = token_client(member_key)
    with CaptureQueriesContext(connection) as captured:
        for _call in range(3):
            assert client.get(UNREAD).status_code == 200

    assert _token_queries(captured.captured_queries) == 3


def test_a_kept_token_is_looked_up_again_once_its_time_is_up(member, member_key, settings, monkeypatch):
    import time

    settings.API_TOKEN_CACHE_SECONDS = 5
    client = token_client(member_key)
    assert client.get(UNREAD).status_code == 200
    # Changed by another process: this one does not hear of it, but its copy ages out.
    User.objects.filter(pk=member.user_id).update(is_active=False)
    assert client.get(UNREAD).status_code == 200

    later = time.monotonic() + 5.5
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert client.get(UNREAD).status_code == 401


def test_a_kept_token_still_expires_on_time(member, member_key, monkeypatch):
    token = ApiToken.objects.get(user=member.user)
    services_expiry = timezone.now() + timedelta(minutes=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=services_expiry)
    client = token_client(member_key)
    assert client.get(UNREAD).status_code == 200

    monkeypatch.setattr(timezone, "now", lambda: services_expiry + timedelta(seconds=1))

    assert client.get(UNREAD).status_code == 401


def test_revoking_through_the_service_stops_a_kept_token_at_once(member, member_key):
    client = token_client(member_key)
    assert client.get(UNREAD).status_code == 200

    services.api_token_revoke(actor=member.user, token=ApiToken.objects.get(user=member.user))

    assert client.get(UNREAD).status_code == 401


def test_deactivating_the_account_stops_a_kept_token_at_once(member, member_key):
    client = token_client(member_key)
    assert client.get(UNREAD).status_code == 200

    user = User.objects.get(pk=member.user_id)
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert client.get(UNREAD).status_code == 401


def test_losing_the_operator_role_applies_to_a_kept_token_at_once(operator):
    _token, raw_key = services.api_token_create(user=operator.user, name="ops")
    client = token_client(raw_key)
    operator_only = "/api/v1/members/"
    assert client.get(operator_only).status_code == 200

    operator.user.groups.remove(*operator.user.groups.filter(name=roles.OPERATOR))

    assert client.get(operator_only).status_code == 403
