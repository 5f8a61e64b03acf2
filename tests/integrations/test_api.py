"""The integrations API: external identities, webhook subscriptions and deliveries, exports — permissions first."""

from __future__ import annotations

import csv
import io
import json

import pytest

from community.models import Activity, AuditLog
from integrations.models import ExternalIdentity, WebhookDelivery, WebhookEvent, WebhookSubscription
from integrations.services import webhooks
from integrations.services.identities import external_identity_link
from tests.factories import ActivityFactory, MemberFactory
from tests.integrations.conftest import token_client

IDENTITIES = "/api/v1/external-identities/"
SUBSCRIPTIONS = "/api/v1/webhooks/subscriptions/"
DELIVERIES = "/api/v1/webhooks/deliveries/"
EVENT_TYPES = "/api/v1/webhooks/event-types/"


# --- external identities -------------------------------------------------------------------------------------


def test_operator_links_lists_and_unlinks_an_identity(api_operator, member):
    created = api_operator.post(
        IDENTITIES, {"member": member.pk, "provider": "product", "external_id": "u_1", "handle": "lin"}, format="json"
    )
    assert created.status_code == 201, created.content
    identity_id = created.json()["id"]

    listed = api_operator.get(IDENTITIES, {"member": member.pk}).json()
    assert [row["external_id"] for row in listed["results"]] == ["u_1"]
    patched = api_operator.patch(f"{IDENTITIES}{identity_id}/", {"handle": "linmei"}, format="json")
    assert patched.status_code == 200 and patched.json()["handle"] == "linmei"
    assert api_operator.delete(f"{IDENTITIES}{identity_id}/").status_code == 204
    assert not ExternalIdentity.objects.exists()
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"external_identity.link", "external_identity.update", "external_identity.unlink"} <= actions


def test_an_external_id_belongs_to_one_member(api_operator, member, other_member):
    external_identity_link(actor=None, member=member, provider="product", external_id="u_1")

    response = api_operator.post(
        IDENTITIES, {"member": other_member.pk, "provider": "product", "external_id": "u_1"}, format="json"
    )

    assert response.status_code == 400
    assert "external_id" in response.json()
    # The same id under another provider is someone else's business.
    other = api_operator.post(
        IDENTITIES, {"member": other_member.pk, "provider": "wechat_group", "external_id": "u_1"}, format="json"
    )
    assert other.status_code == 201


@pytest.mark.parametrize(
    "payload", [{"provider": "Bad Provider", "external_id": "x"}, {"provider": "crm", "external_id": ""}]
)
def test_identity_input_is_checked(api_operator, member, payload):
    response = api_operator.post(IDENTITIES, {"member": member.pk, **payload}, format="json")
    assert response.status_code == 400


def test_members_cannot_see_identities(api_member, api_other, member):
    identity = external_identity_link(actor=None, member=member, provider="product", external_id="u_1")
    assert api_member.get(IDENTITIES).status_code == 403
    assert api_other.get(f"{IDENTITIES}{identity.pk}/").status_code == 403
    assert (
        api_member.post(
            IDENTITIES, {"member": member.pk, "provider": "p", "external_id": "x"}, format="json"
        ).status_code
        == 403
    )


def test_identity_scopes(operator, member):
    external_identity_link(actor=None, member=member, provider="product", external_id="u_1")
    reader = token_client(operator.user, scopes=["members:read"])
    assert reader.get(IDENTITIES).status_code == 200
    body = {"member": member.pk, "provider": "crm", "external_id": "c1"}
    assert reader.post(IDENTITIES, body, format="json").status_code == 403
    writer = token_client(operator.user, scopes=["members:write"], name="writer")
    assert writer.post(IDENTITIES, body, format="json").status_code == 201


def test_identity_list_query_count_is_constant(api_operator, django_assert_num_queries):
    for index, member in enumerate(MemberFactory.create_batch(5)):
        external_identity_link(actor=None, member=member, provider="product", external_id=f"u{index}")
    api_operator.get(IDENTITIES)  # the operator check caches the account's groups on the user
    # count + page, however many rows
    with django_assert_num_queries(2):
        assert api_operator.get(IDENTITIES).status_code == 200
    for index, member in enumerate(MemberFactory.create_batch(10)):
        external_identity_link(actor=None, member=member, provider="crm", external_id=f"c{index}")
    with django_assert_num_queries(2):
        assert api_operator.get(IDENTITIES).status_code == 200


# --- webhook subscriptions ------------------------------------------------------------------------------------


def test_operator_manages_a_subscription_over_the_api(api_operator):
    created = api_operator.post(
        SUBSCRIPTIONS,
        {
            "name": "CRM",
            "url": "https://crm.example.com/hooks",
            "event_types": ["member.left", "points.awarded"],
            "allow_private_network": True,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["allow_private_network"] is False  # never settable over the API
    subscription_id = body["id"]

    detail = api_operator.get(f"{SUBSCRIPTIONS}{subscription_id}/").json()
    assert "secret" not in detail
    rotated = api_operator.post(f"{SUBSCRIPTIONS}{subscription_id}/rotate-secret/").json()
    assert rotated["secret"] != body["secret"]
    patched = api_operator.patch(f"{SUBSCRIPTIONS}{subscription_id}/", {"is_active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert api_operator.delete(f"{SUBSCRIPTIONS}{subscription_id}/").status_code == 204
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "url": "ftp://example.com/", "event_types": ["*"]}, "url"),
        ({"name": "x", "url": "https://user:pw@example.com/", "event_types": ["*"]}, "url"),
        ({"name": "x", "url": "https://example.com/", "event_types": []}, "event_types"),
        ({"name": "x", "url": "https://example.com/", "event_types": ["DROP TABLE"]}, "event_types"),
        ({"name": "", "url": "https://example.com/", "event_types": ["*"]}, "name"),
    ],
)
def test_subscription_input_is_checked(api_operator, payload, field):
    response = api_operator.post(SUBSCRIPTIONS, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_members_cannot_manage_webhooks(api_member, member):
    assert api_member.get(SUBSCRIPTIONS).status_code == 403
    assert api_member.get(DELIVERIES).status_code == 403
    assert api_member.get(EVENT_TYPES).status_code == 403
    body = {"name": "x", "url": "https://example.com/", "event_types": ["*"]}
    assert api_member.post(SUBSCRIPTIONS, body, format="json").status_code == 403
    assert token_client(member.user).get(SUBSCRIPTIONS).status_code == 403


def test_webhook_scope(operator):
    assert token_client(operator.user, scopes=["events:write"]).get(SUBSCRIPTIONS).status_code == 403
    assert token_client(operator.user, scopes=["webhooks:manage"], name="w").get(SUBSCRIPTIONS).status_code == 200


def test_event_types_are_listed(api_operator):
    rows = api_operator.get(EVENT_TYPES).json()
    types = {row["type"] for row in rows}
    assert {"member.accepted", "feedback.created", "points.awarded", "kpi.target_missed"} <= types


def test_delivery_log_and_redelivery(api_operator, django_assert_num_queries, django_capture_on_commit_callbacks):
    subscription = webhooks.webhook_subscription_create(
        actor=None, name="dead", url="http://127.0.0.1:9/never", event_types=["*"], is_active=False
    )
    for index in range(3):
        event = WebhookEvent.objects.create(type="points.awarded", data={"n": index})
        WebhookDelivery.objects.create(subscription=subscription, event=event)
    api_operator.get(DELIVERIES)  # the operator check caches the account's groups on the user
    with django_assert_num_queries(2):
        listed = api_operator.get(DELIVERIES, {"subscription": subscription.pk})
    assert listed.status_code == 200 and listed.json()["count"] == 3
    for index in range(3, 8):
        WebhookDelivery.objects.create(
            subscription=subscription, event=WebhookEvent.objects.create(type="member.left", data={"n": index})
        )
    with django_assert_num_queries(2):
        assert api_operator.get(DELIVERIES).json()["count"] == 8

    delivery = WebhookDelivery.objects.first()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_operator.post(f"{DELIVERIES}{delivery.pk}/redeliver/")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"  # its subscription is off: it waits
    assert AuditLog.objects.filter(action="webhook_delivery.redeliver").exists()


def test_send_test_event(api_operator, receiver, django_capture_on_commit_callbacks):
    subscription = webhooks.webhook_subscription_create(
        actor=None, name="local", url=receiver.url, event_types=["member.left"], allow_private_network=True
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api_operator.post(f"{SUBSCRIPTIONS}{subscription.pk}/test/")
    assert response.status_code == 202
    assert json.loads(receiver.requests[0].body)["type"] == "webhook.test"


# --- exports --------------------------------------------------------------------------------------------------


def _content(response) -> bytes:
    return b"".join(response.streaming_content)


def test_members_export_is_streamed_csv(api_operator, member, other_member):
    response = api_operator.get("/api/v1/exports/members.csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(_content(response).decode())))
    assert rows[0][:3] == ["id", "display_name", "user__email"]
    emails = {row[2] for row in rows[1:]}
    assert {member.user.email, other_member.user.email} <= emails
    assert AuditLog.objects.filter(action="export.download").exists()


def test_activity_export_as_json(api_operator, member):
    ActivityFactory(member=member, verb="checked_in", data={"x": 1})
    ActivityFactory(member=member, verb="=HYPERLINK()")

    response = api_operator.get("/api/v1/exports/activity.json")

    assert response.status_code == 200
    rows = json.loads(_content(response))
    assert len(rows) == Activity.objects.count() == 2
    assert {row["verb"] for row in rows} == {"checked_in", "=HYPERLINK()"}
    csv_text = _content(api_operator.get("/api/v1/exports/activity.csv")).decode()
    assert "'=HYPERLINK()" in csv_text  # a spreadsheet will not run it


@pytest.mark.parametrize("name", ["ledger", "feedback", "kpi-days", "kpi-verbs", "kpi-targets"])
def test_every_export_answers(api_operator, name):
    response = api_operator.get(f"/api/v1/exports/{name}.csv")
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        assert _content(response).count(b"\n") >= 1


def test_export_permissions(api_member, api_anon, analyst, operator):
    from rest_framework.test import APIClient

    assert api_member.get("/api/v1/exports/members.csv").status_code == 403
    assert api_anon.get("/api/v1/exports/members.csv").status_code in (401, 403)
    analyst_client = APIClient()
    analyst_client.force_authenticate(analyst.user)
    assert analyst_client.get("/api/v1/exports/members.csv").status_code == 200
    assert token_client(operator.user, scopes=["members:read"]).get("/api/v1/exports/members.csv").status_code == 403
    scoped = token_client(operator.user, scopes=["exports:read"], name="warehouse")
    assert scoped.get("/api/v1/exports/ledger.json").status_code == 200
    assert scoped.get("/api/v1/exports/nothing.csv").status_code == 404
