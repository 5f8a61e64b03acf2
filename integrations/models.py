"""Integrations: external identities (member ↔ a product's ids), webhook subscriptions, events and deliveries."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ExternalIdentity(models.Model):
    """A member's id or handle in another system: the product's user id, a chat group id, a CRM contact id.

    Each (provider, external id) belongs to one member, so an inbound event or an import finds exactly one person.
    """

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="external_identities", verbose_name=_("member")
    )
    provider = models.CharField(
        _("provider"), max_length=64, help_text=_("Which system the id belongs to, e.g. “product” or “wechat_group”.")
    )
    external_id = models.CharField(_("external id"), max_length=191)
    handle = models.CharField(_("handle"), max_length=191, blank=True, help_text=_("A display name or handle there."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("external identity")
        verbose_name_plural = _("external identities")
        ordering = ["provider", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"], name="external_identity_unique"),
        ]
        indexes = [models.Index(fields=["member", "provider"], name="external_identity_member")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.external_id}"


def _new_secret() -> str:
    import secrets

    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookSubscription(models.Model):
    """An endpoint that receives signed POSTs for the event types it subscribed to."""

    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    # Event type names ("feedback.created"); "*" subscribes to every type.
    event_types = models.JSONField(_("event types"), default=list)
    secret = models.CharField(_("signing secret"), max_length=100, default=_new_secret)
    is_active = models.BooleanField(_("active"), default=True)
    # Set only by an operator: lets the URL resolve to a loopback or private address (a test receiver, an
    # on-premises CRM). Off by default so a subscription cannot be used to reach internal services.
    allow_private_network = models.BooleanField(_("allow private network addresses"), default=False)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failed attempts"), default=0)
    disabled_at = models.DateTimeField(_("disabled automatically at"), null=True, blank=True)
    disabled_reason = models.CharField(_("disabled because"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class WebhookEvent(models.Model):
    """One published domain event, with the exact payload every subscription receives (versioned)."""

    uuid = models.UUIDField(_("event id"), default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(_("type"), max_length=64, db_index=True)
    version = models.PositiveSmallIntegerField(_("payload version"), default=1)
    data = models.JSONField(_("data"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.uuid}"

    def payload(self) -> dict:
        return {
            "id": str(self.uuid),
            "type": self.type,
            "version": self.version,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.data,
        }


class WebhookDelivery(models.Model):
    """One event to one subscription: attempted until it succeeds or runs out of attempts (the delivery log)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("subscription")
    )
    event = models.ForeignKey(
        WebhookEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    # A worker claims the delivery until this moment, so two workers never post it at once.
    locked_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_response = models.TextField(_("last response (start)"), blank=True)
    last_duration_ms = models.PositiveIntegerField(_("last duration (ms)"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhook_delivery_unique"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
            models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_sub_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription}"
