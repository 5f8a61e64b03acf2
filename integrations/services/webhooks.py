"""Webhooks out: subscriptions, turning published domain events into deliveries, and attempting them.

Flow: a service calls `community.domain_events.publish(type, data)`; after its transaction commits our listener
(`webhook_event_publish`) stores one `WebhookEvent` and one `WebhookDelivery` per interested active subscription,
and enqueues a Celery task per delivery once that commits. The request that caused it never waits for a receiver.
A task claims its delivery, POSTs the signed body (`integrations.http`: timeouts, no redirects, no internal
addresses), and records the attempt. A failure is retried with exponential back-off until
`HEARTH_WEBHOOK_MAX_ATTEMPTS`; after `HEARTH_WEBHOOK_DISABLE_AFTER` consecutive failed attempts the subscription
is switched off and operators are told. Deliveries of a switched-off subscription wait (pending) and resume
when an operator switches it back on, so a receiver outage loses nothing.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import audit_record, model_snapshot, notify
from integrations import event_types, signing
from integrations.http import DeliveryRefused, check_url, post
from integrations.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from members.models import Member

logger = logging.getLogger(__name__)

# Registered in IntegrationsConfig.ready(); templates in integrations/templates/notifications/webhook_disabled/.
WEBHOOK_DISABLED_KIND = "webhook_disabled"
EVENT_TYPE_RE = re.compile(r"^(\*|[a-z][a-z_]*\.[a-z][a-z_]*)$")
SUBSCRIPTION_FIELDS = ("name", "url", "event_types", "is_active", "allow_private_network")
USER_AGENT = "Hearth-Webhooks/1"

# --- the subscriptions cache: the listener runs for every published event, most of which nobody subscribed to --

_CACHE_SECONDS = 5.0
_cache: tuple[float, list[tuple[int, list[str]]]] | None = None


def subscriptions_cache_forget() -> None:
    global _cache
    _cache = None


def _active_subscriptions() -> list[tuple[int, list[str]]]:
    global _cache
    now = time.monotonic()
    if _cache is None or _cache[0] < now:
        rows = list(WebhookSubscription.objects.filter(is_active=True).values_list("id", "event_types"))
        _cache = (now + _CACHE_SECONDS, [(pk, list(types or [])) for pk, types in rows])
    return _cache[1]


# --- subscriptions ---------------------------------------------------------------------------------------------


def _clean_event_types(values: Any) -> list[str]:
    if not isinstance(values, list | tuple) or not values:
        raise ServiceError(_("Choose at least one event type (or “*” for all)."), field="event_types")
    cleaned = sorted({str(value).strip() for value in values})
    bad = [value for value in cleaned if not EVENT_TYPE_RE.match(value)]
    if bad:
        raise ServiceError(
            _("Not an event type: %(types)s. Types look like “feedback.created”.") % {"types": ", ".join(bad)},
            field="event_types",
        )
    return cleaned


def _clean_url(url: Any) -> str:
    url = str(url or "").strip()
    try:
        check_url(url)
    except DeliveryRefused:
        raise ServiceError(_("Give an http:// or https:// URL without a user name or password."), field="url")
    if len(url) > 500:
        raise ServiceError(_("Keep the URL to 500 characters."), field="url")
    return url


def _clean_name(name: Any) -> str:
    name = str(name or "").strip()
    if not name or len(name) > 100:
        raise ServiceError(_("A subscription needs a name of 1 to 100 characters."), field="name")
    return name


def webhook_subscription_create(
    *,
    actor: Any | None,
    name: str,
    url: str,
    event_types: Iterable[str],
    is_active: bool = True,
    allow_private_network: bool = False,
) -> WebhookSubscription:
    """Subscribe a URL to event types. `allow_private_network` is for operators only (the admin sets it)."""
    subscription = WebhookSubscription(
        name=_clean_name(name),
        url=_clean_url(url),
        event_types=_clean_event_types(list(event_types)),
        is_active=bool(is_active),
        allow_private_network=bool(allow_private_network),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    with transaction.atomic():
        subscription.save()
        audit_record(
            actor=actor,
            action="webhook_subscription.create",
            obj=subscription,
            after=model_snapshot(subscription, SUBSCRIPTION_FIELDS),
        )
    subscriptions_cache_forget()
    return subscription


def webhook_subscription_update(
    *, actor: Any | None, subscription: WebhookSubscription, **changes: Any
) -> WebhookSubscription:
    """Change name, url, event_types, is_active or allow_private_network. Switching on resumes waiting deliveries."""
    unknown = set(changes) - set(SUBSCRIPTION_FIELDS)
    if unknown:
        raise ServiceError(_("These fields cannot be changed: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    cleaners = {"name": _clean_name, "url": _clean_url, "event_types": _clean_event_types}
    with transaction.atomic():
        subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        before = model_snapshot(subscription, SUBSCRIPTION_FIELDS)
        was_active = subscription.is_active
        for field_name, value in changes.items():
            cleaner = cleaners.get(field_name)
            setattr(subscription, field_name, cleaner(value) if cleaner else bool(value))
        if subscription.is_active and not was_active:
            subscription.consecutive_failures = 0
            subscription.disabled_at = None
            subscription.disabled_reason = ""
        subscription.updated_at = timezone.now()
        subscription.save()
        audit_record(
            actor=actor,
            action="webhook_subscription.update",
            obj=subscription,
            before=before,
            after=model_snapshot(subscription, SUBSCRIPTION_FIELDS),
        )
        if subscription.is_active and not was_active:
            _enqueue_on_commit(_due_delivery_ids(subscription_id=subscription.pk))
    subscriptions_cache_forget()
    return subscription


def webhook_subscription_rotate_secret(*, actor: Any | None, subscription: WebhookSubscription) -> WebhookSubscription:
    from integrations.models import _new_secret

    with transaction.atomic():
        subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        subscription.secret = _new_secret()
        subscription.updated_at = timezone.now()
        subscription.save(update_fields=["secret", "updated_at"])
        audit_record(actor=actor, action="webhook_subscription.rotate_secret", obj=subscription)
    return subscription


def webhook_subscription_delete(*, actor: Any | None, subscription: WebhookSubscription) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="webhook_subscription.delete",
            obj=subscription,
            before=model_snapshot(subscription, SUBSCRIPTION_FIELDS),
        )
        subscription.delete()
    subscriptions_cache_forget()


# --- publishing: a domain event becomes deliveries ---------------------------------------------------------------


def webhook_event_publish(event_type: str, data: Mapping[str, Any]) -> WebhookEvent | None:
    """The domain-event listener: store the event and a delivery per interested subscription, enqueue them.

    Runs after the publishing transaction committed. It never raises: a failure here must not fail the request
    that caused the event (it is logged; the change itself is already committed).
    """
    try:
        interested = [pk for pk, types in _active_subscriptions() if "*" in types or event_type in types]
        if not interested:
            return None
        # Subscriptions switched off or deleted since the cache was filled are skipped.
        live = list(WebhookSubscription.objects.filter(pk__in=interested, is_active=True).values_list("pk", flat=True))
        if not live:
            return None
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                type=event_type, version=event_types.PAYLOAD_VERSION, data=json.loads(json.dumps(data, default=str))
            )
            deliveries = WebhookDelivery.objects.bulk_create(
                [WebhookDelivery(subscription_id=pk, event=event, next_attempt_at=event.created_at) for pk in live]
            )
            _enqueue_on_commit([delivery.pk for delivery in deliveries])
        return event
    except Exception:  # never let a webhook problem fail the change that was just committed
        logger.exception("Could not queue webhook deliveries for %s", event_type)
        return None


def _enqueue_on_commit(delivery_ids: list[int], countdown: float | None = None) -> None:
    if not delivery_ids:
        return
    from integrations.tasks import webhook_delivery_attempt

    def enqueue() -> None:
        for delivery_id in delivery_ids:
            # With the broker down the delivery stays pending and the sweep (every minute) picks it up.
            try:
                webhook_delivery_attempt.apply_async((delivery_id,), countdown=countdown)
            except Exception:
                logger.exception("Could not enqueue webhook delivery %s; the sweep will", delivery_id)

    transaction.on_commit(enqueue)


# --- attempting a delivery ---------------------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """Back-off after the `attempts`-th failure: base · 2^(attempts-1), capped, with ±10 % jitter."""
    base = settings.HEARTH_WEBHOOK_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    seconds = min(base, settings.HEARTH_WEBHOOK_RETRY_MAX_SECONDS) * random.uniform(0.9, 1.1)  # noqa: S311
    return timedelta(seconds=seconds)


def delivery_body(event: WebhookEvent) -> bytes:
    return json.dumps(event.payload(), separators=(",", ":"), ensure_ascii=False).encode()


def delivery_headers(*, delivery: WebhookDelivery, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.SIGNATURE_HEADER: signing.sign(secret=delivery.subscription.secret, body=body, timestamp=timestamp),
        signing.EVENT_ID_HEADER: str(delivery.event.uuid),
        signing.EVENT_TYPE_HEADER: delivery.event.type,
        signing.DELIVERY_HEADER: str(delivery.pk),
        "Hearth-Attempt": str(delivery.attempts + 1),
    }


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str:
    """Attempt one due delivery once. Returns "succeeded", "retrying", "failed" or "skipped" (not due, done,
    claimed by another worker, or its subscription is switched off). Safe to call twice."""
    now = now or timezone.now()
    hold = timedelta(seconds=settings.HEARTH_WEBHOOK_CONNECT_TIMEOUT + settings.HEARTH_WEBHOOK_READ_TIMEOUT + 30)
    if not WebhookSubscription.objects.filter(deliveries=delivery_id, is_active=True).exists():
        return "skipped"  # switched off: the delivery waits, pending, until an operator switches it back on
    # Claim with one conditional UPDATE on the delivery's own row (no join: PostgreSQL then re-checks the condition
    # on the locked row, so of two racing workers only one wins). No transaction stays open while we post.
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id,
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now + timedelta(seconds=1),
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + hold)
    )
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("subscription", "event").get(pk=delivery_id)
    body = delivery_body(delivery.event)
    headers = delivery_headers(delivery=delivery, body=body, timestamp=int(time.time()))
    status_code: int | None = None
    response_text = ""
    duration_ms: int | None = None
    started = time.monotonic()
    try:
        result = post(
            url=delivery.subscription.url,
            body=body,
            headers=headers,
            allow_private_network=delivery.subscription.allow_private_network,
        )
    except DeliveryRefused as error:
        ok, error_text = False, f"refused: {error}"
    except TimeoutError as error:
        ok, error_text = False, f"timeout: {error or 'no answer in time'}"
    except (OSError, http.client.HTTPException) as error:
        ok, error_text = False, f"network: {error.__class__.__name__}: {error}"
    else:
        status_code, response_text, duration_ms = result.status_code, result.body, result.duration_ms
        ok = 200 <= result.status_code < 300
        if ok:
            error_text = ""
        elif 300 <= result.status_code < 400:
            error_text = f"HTTP {result.status_code}: redirects are not followed"
        else:
            error_text = f"HTTP {result.status_code}"
    if duration_ms is None:
        duration_ms = int((time.monotonic() - started) * 1000)
    return _record_attempt(
        delivery_id=delivery_id,
        ok=ok,
        status_code=status_code,
        error_text=error_text,
        response_text=response_text,
        duration_ms=duration_ms,
    )


def _record_attempt(
    *, delivery_id: int, ok: bool, status_code: int | None, error_text: str, response_text: str, duration_ms: int
) -> str:
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        subscription = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = status_code
        delivery.last_error = error_text[:500]
        delivery.last_response = response_text[:2000]
        delivery.last_duration_ms = duration_ms
        delivery.locked_until = None
        if ok:
            outcome = "succeeded"
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = now
            if subscription.consecutive_failures:
                subscription.consecutive_failures = 0
                subscription.save(update_fields=["consecutive_failures"])
        else:
            subscription.consecutive_failures += 1
            subscription.save(update_fields=["consecutive_failures"])
            if delivery.attempts >= settings.HEARTH_WEBHOOK_MAX_ATTEMPTS:
                outcome = "failed"
                delivery.status = WebhookDelivery.Status.FAILED
            else:
                outcome = "retrying"
                delay = retry_delay(delivery.attempts)
                delivery.next_attempt_at = now + delay
                _enqueue_on_commit([delivery.pk], countdown=delay.total_seconds())
            if subscription.is_active and subscription.consecutive_failures >= settings.HEARTH_WEBHOOK_DISABLE_AFTER:
                _disable(subscription=subscription, reason=error_text, now=now)
        delivery.save()
    return outcome


def _disable(*, subscription: WebhookSubscription, reason: str, now: datetime) -> None:
    before = model_snapshot(subscription, SUBSCRIPTION_FIELDS)
    subscription.is_active = False
    subscription.disabled_at = now
    subscription.disabled_reason = (
        _("%(count)d failed attempts in a row; the last: %(error)s")
        % {"count": subscription.consecutive_failures, "error": reason}
    )[:300]
    subscription.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
    audit_record(
        actor=None,
        action="webhook_subscription.disable",
        obj=subscription,
        before=before,
        after=model_snapshot(subscription, SUBSCRIPTION_FIELDS),
    )
    url = reverse("admin:integrations_webhooksubscription_change", args=[subscription.pk])
    for operator in operator_members():
        notify(
            member=operator,
            kind=WEBHOOK_DISABLED_KIND,
            url=url,
            context={
                "subscription_name": subscription.name,
                "subscription_url": subscription.url,
                "failures": subscription.consecutive_failures,
                "reason": reason[:300],
            },
        )
    transaction.on_commit(subscriptions_cache_forget)


def operator_members() -> list[Member]:
    """Members whose accounts are active operators (or superusers): who hears about integration trouble."""
    return list(
        Member.objects.filter(user__is_active=True, user__is_staff=True)
        .filter(Q(user__is_superuser=True) | Q(user__groups__name="operator"))
        .select_related("user")
        .distinct()
    )


def webhook_delivery_redeliver(*, actor: Any | None, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (manual redelivery from the admin or API), whatever its status."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        before = model_snapshot(delivery, ["status", "attempts", "next_attempt_at"])
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.next_attempt_at = timezone.now()
        delivery.locked_until = None
        delivery.save(update_fields=["status", "next_attempt_at", "locked_until"])
        audit_record(
            actor=actor,
            action="webhook_delivery.redeliver",
            obj=delivery,
            before=before,
            after=model_snapshot(delivery, ["status", "attempts", "next_attempt_at"]),
        )
        _enqueue_on_commit([delivery.pk])
    return delivery


def _due_delivery_ids(*, subscription_id: int | None = None, limit: int = 500) -> list[int]:
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, subscription__is_active=True
    ).filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
    if subscription_id is not None:
        due = due.filter(subscription_id=subscription_id)
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def webhook_deliveries_enqueue_due(*, limit: int = 500) -> int:
    """The sweep: enqueue deliveries that are due (a lost countdown, a broker outage, a switched-on subscription)."""
    ids = _due_delivery_ids(limit=limit)
    _enqueue_on_commit(ids)
    return len(ids)


def webhook_send_test(*, actor: Any | None, subscription: WebhookSubscription) -> WebhookDelivery:
    """A `webhook.test` event to one subscription, so an integrator can check the receiver and the signature."""
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            type="webhook.test",
            data={"subscription_id": subscription.pk, "message": "Hello from Hearth"},
        )
        delivery = WebhookDelivery.objects.create(subscription=subscription, event=event)
        audit_record(actor=actor, action="webhook_subscription.test", obj=subscription)
        _enqueue_on_commit([delivery.pk])
    return delivery


def webhook_log_prune(*, keep_days: int | None = None) -> int:
    """Delete events whose every delivery succeeded (or failed for good) more than `keep_days` ago; pending
    deliveries are always kept. Returns how many events went."""
    days = keep_days if keep_days is not None else settings.HEARTH_WEBHOOK_LOG_KEEP_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    old = WebhookEvent.objects.filter(created_at__lt=cutoff).exclude(deliveries__status=WebhookDelivery.Status.PENDING)
    deleted, _per_model = WebhookEvent.objects.filter(pk__in=old.values("pk")).delete()
    return deleted
