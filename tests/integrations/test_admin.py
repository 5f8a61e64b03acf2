"""The operators' admin pages for integrations: they load, and their actions go through the services."""

from __future__ import annotations

import pytest

from community.models import AuditLog
from integrations.models import ExternalIdentity, WebhookDelivery, WebhookEvent, WebhookSubscription
from integrations.services import webhooks
from integrations.services.identities import external_identity_link


@pytest.fixture
def subscription():
    return webhooks.webhook_subscription_create(
        actor=None, name="CRM", url="https://crm.example.com/hooks", event_types=["points.awarded"], is_active=False
    )


def test_admin_pages_load(web_operator, member, subscription):
    identity = external_identity_link(actor=None, member=member, provider="product", external_id="u1")
    event = WebhookEvent.objects.create(type="points.awarded", data={})
    delivery = WebhookDelivery.objects.create(subscription=subscription, event=event)
    for url in (
        "/admin/integrations/externalidentity/",
        f"/admin/integrations/externalidentity/{identity.pk}/change/",
        "/admin/integrations/externalidentity/add/",
        "/admin/integrations/webhooksubscription/",
        f"/admin/integrations/webhooksubscription/{subscription.pk}/change/",
        "/admin/integrations/webhooksubscription/add/",
        "/admin/integrations/webhookevent/",
        "/admin/integrations/webhookdelivery/",
        f"/admin/integrations/webhookdelivery/{delivery.pk}/change/",
    ):
        assert web_operator.get(url).status_code == 200, url
    # The receiver needs the signing secret: the change page shows it (the add page does not, none exists yet).
    change = web_operator.get(f"/admin/integrations/webhooksubscription/{subscription.pk}/change/")
    assert subscription.secret.encode() in change.content


def test_members_do_not_see_integrations_in_the_admin(web_member):
    response = web_member.get("/admin/integrations/webhooksubscription/")
    assert response.status_code == 302  # to the log-in page


def test_admin_creates_a_subscription_through_the_service(web_operator):
    response = web_operator.post(
        "/admin/integrations/webhooksubscription/add/",
        {
            "name": "Local receiver",
            "url": "http://127.0.0.1:8765/",
            "event_types": ["*"],
            "is_active": "on",
            "allow_private_network": "on",
        },
    )

    assert response.status_code == 302, response.content[:3000]
    subscription = WebhookSubscription.objects.get(name="Local receiver")
    assert subscription.allow_private_network and subscription.event_types == ["*"]
    assert AuditLog.objects.filter(action="webhook_subscription.create").exists()


def test_admin_switch_on_action(web_operator, subscription):
    response = web_operator.post(
        "/admin/integrations/webhooksubscription/",
        {"action": "switch_on", "_selected_action": [subscription.pk]},
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.is_active


def test_admin_redeliver_action(web_operator, subscription, django_capture_on_commit_callbacks):
    event = WebhookEvent.objects.create(type="points.awarded", data={})
    delivery = WebhookDelivery.objects.create(
        subscription=subscription, event=event, status=WebhookDelivery.Status.FAILED
    )
    response = web_operator.post(
        "/admin/integrations/webhookdelivery/", {"action": "redeliver", "_selected_action": [delivery.pk]}
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING


def test_admin_links_an_identity_through_the_service(web_operator, member):
    response = web_operator.post(
        "/admin/integrations/externalidentity/add/",
        {"member": member.pk, "provider": "product", "external_id": "u_9", "handle": "lm"},
    )
    assert response.status_code == 302, response.content[:3000]
    assert ExternalIdentity.objects.get(external_id="u_9").member == member
    assert AuditLog.objects.filter(action="external_identity.link").exists()
