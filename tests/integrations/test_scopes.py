"""Token scopes: a scoped token reaches only its scopes (403 elsewhere); sessions and full-access tokens are not
affected."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from community import services
from community.models import ApiToken, AuditLog
from tests.integrations.conftest import token_client

ME = "/api/v1/members/me/"
TOKENS = "/api/v1/tokens/"
ACTIVITY = "/api/v1/activity/"
BALANCE = "/api/v1/points/balance/"
EVENTS = "/api/v1/events/"


def test_a_scoped_token_outside_its_scopes_answers_403(member):
    client = token_client(member.user, scopes=["points:read"])

    assert client.get(BALANCE).status_code == 200
    refused = client.get(ACTIVITY)
    assert refused.status_code == 403
    assert "scopes" in refused.json()["detail"]
    # A view of another app that declares nothing is covered by the module fallback (members.* → members:read).
    assert client.get(ME).status_code == 403
    assert token_client(member.user, scopes=["members:read"], name="reader").get(ME).status_code == 200


def test_read_and_write_scopes_are_separate(member):
    reader = token_client(member.user, scopes=["notifications:read"])

    assert reader.get("/api/v1/notifications/").status_code == 200
    assert reader.post("/api/v1/notifications/mark-read/", {}, format="json").status_code == 403
    writer = token_client(member.user, scopes=["notifications:read", "notifications:write"], name="writer")
    assert writer.post("/api/v1/notifications/mark-read/", {}, format="json").status_code == 200


def test_an_unscoped_token_keeps_full_access(member):
    client = token_client(member.user, scopes=[])

    assert client.get(ME).status_code == 200
    assert client.get(ACTIVITY).status_code == 200
    assert client.get(BALANCE).status_code == 200


def test_sessions_are_not_affected_by_scopes(api_member):
    assert api_member.get(ACTIVITY).status_code == 200
    assert api_member.get(ME).status_code == 200


def test_scopes_do_not_grant_a_role(member):
    # points:award on a member's token: the view still wants an operator.
    client = token_client(member.user, scopes=["points:award", "events:write"])

    response = client.post(EVENTS, {"events": []}, format="json")
    assert response.status_code == 403


def test_create_a_scoped_token_over_the_api(api_member, member):
    response = api_member.post(TOKENS, {"name": "backend", "scopes": ["members:read", "events:write"]}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["scopes"] == ["events:write", "members:read"]
    token = ApiToken.objects.get(pk=body["id"])
    assert token.scopes == ["events:write", "members:read"]
    assert AuditLog.objects.filter(action="api_token.create", object_id=str(token.pk)).exists()


def test_an_unknown_scope_is_a_400(api_member):
    response = api_member.post(TOKENS, {"name": "backend", "scopes": ["everything:please"]}, format="json")

    assert response.status_code == 400
    assert "scopes" in response.json()


def test_a_scoped_token_cannot_mint_a_wider_token(member):
    client = token_client(member.user, scopes=["tokens:manage", "members:read"])

    assert client.post(TOKENS, {"name": "wider"}, format="json").status_code == 403
    assert client.post(TOKENS, {"name": "w2", "scopes": ["points:award"]}, format="json").status_code == 403
    narrower = client.post(TOKENS, {"name": "narrower", "scopes": ["members:read"]}, format="json")
    assert narrower.status_code == 201
    # Without tokens:manage the token endpoints are out of scope altogether.
    assert token_client(member.user, scopes=["members:read"], name="r").get(TOKENS).status_code == 403


def test_change_a_tokens_scopes(api_member, member, other_member):
    token, raw_key = services.api_token_create(user=member.user, name="ci", scopes=["members:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get(BALANCE).status_code == 403

    response = api_member.patch(f"{TOKENS}{token.pk}/", {"scopes": ["points:read"]}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["scopes"] == ["points:read"]
    assert client.get(BALANCE).status_code == 200
    assert AuditLog.objects.filter(action="api_token.scopes_set", object_id=str(token.pk)).exists()
    # Someone else's token is not found.
    other_token, _key = services.api_token_create(user=other_member.user, name="theirs")
    assert api_member.patch(f"{TOKENS}{other_token.pk}/", {"scopes": []}, format="json").status_code == 404


def test_expired_and_revoked_scoped_tokens_answer_401(member):
    token, raw_key = services.api_token_create(user=member.user, name="ci", scopes=["members:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get(ME).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None

    services.api_token_revoke(actor=member.user, token=token)

    assert client.get(ME).status_code == 401


def test_portal_token_page_creates_a_scoped_token(web_member, member):
    page = web_member.get("/settings/api-tokens/")
    assert page.status_code == 200
    assert b"events:write" in page.content

    response = web_member.post("/settings/api-tokens/", {"name": "crm", "scopes": ["members:read", "activity:read"]})

    assert response.status_code == 200
    token = ApiToken.objects.get(user=member.user, name="crm")
    assert token.scopes == ["activity:read", "members:read"]
    assert b"activity:read, members:read" in response.content


@pytest.mark.django_db
def test_admin_sets_a_tokens_scopes(web_operator, member):
    token, _key = services.api_token_create(user=member.user, name="ci")
    url = f"/admin/community/apitoken/{token.pk}/change/"
    assert web_operator.get(url).status_code == 200

    response = web_operator.post(url, {"scopes": ["exports:read"]})

    assert response.status_code == 302, response.content[:2000]
    token.refresh_from_db()
    assert token.scopes == ["exports:read"]
    assert AuditLog.objects.filter(action="api_token.scopes_set", object_id=str(token.pk)).exists()


def test_any_token_may_read_the_schema(member):
    client = token_client(member.user, scopes=["events:write"])
    assert client.get("/api/schema/").status_code == 200
