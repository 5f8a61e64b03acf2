"""Integrations: product events, exports, external identities, member merges, webhooks."""

from __future__ import annotations

from tests.security.routes import Route, statuses

ROUTES: dict[str, Route] = {
    "product-events": Route(statuses(401, 403, 403, 403, 400), method="post"),
    "export": Route(statuses(401, 403, 403, 403, 200), kwargs={"name": "export_name", "fmt": "export_format"}),
    "external-identity-list": Route(statuses(401, 403, 403, 403, 200)),
    "external-identity-detail": Route(statuses(401, 403, 403, 403, 200), kwargs={"pk": "external_identity"}),
    "member-merge": Route(statuses(401, 403, 403, 403, 400), method="post"),
    "webhook-event-types": Route(statuses(401, 403, 403, 403, 200)),
    "webhook-subscription-list": Route(statuses(401, 403, 403, 403, 200)),
    "webhook-subscription-detail": Route(statuses(401, 403, 403, 403, 200), kwargs={"pk": "webhook"}),
    "webhook-subscription-rotate-secret": Route(
        statuses(401, 403, 403, 403, 200), method="post", kwargs={"pk": "webhook"}
    ),
    "webhook-subscription-send-test": Route(statuses(401, 403, 403, 403, 202), method="post", kwargs={"pk": "webhook"}),
    "webhook-delivery-list": Route(statuses(401, 403, 403, 403, 200)),
    "webhook-delivery-detail": Route(statuses(401, 403, 403, 403, 200), kwargs={"pk": "delivery"}),
    "webhook-delivery-redeliver": Route(statuses(401, 403, 403, 403, 202), method="post", kwargs={"pk": "delivery"}),
}


def objects(world) -> dict[str, object]:
    from integrations.models import ExternalIdentity, WebhookDelivery, WebhookEvent
    from integrations.services.webhooks import webhook_subscription_create

    subscription = webhook_subscription_create(
        actor=world.operator.user, name="Matrix hook", url="https://hooks.example.com/in", event_types=["member.left"]
    )
    event = WebhookEvent.objects.create(type="member.left", data={"member_id": world.member.pk})
    delivery = WebhookDelivery.objects.create(subscription=subscription, event=event)
    identity = ExternalIdentity.objects.create(
        member=world.member, provider="crm", external_id=f"matrix-{world.secret}"
    )
    return {
        "webhook": subscription,
        "delivery": delivery,
        "external_identity": identity,
        "export_name": "members",
        "export_format": "csv",
    }
