"""Reads of the integrations app."""

from __future__ import annotations

from django.db.models import QuerySet

from integrations.models import ExternalIdentity, WebhookDelivery, WebhookSubscription


def external_identity_list() -> QuerySet[ExternalIdentity]:
    return ExternalIdentity.objects.order_by("provider", "external_id", "id")


def webhook_subscription_list() -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.order_by("name", "id")


def webhook_delivery_list() -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.select_related("event", "subscription").order_by("-created_at", "-id")
