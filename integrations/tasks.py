"""Webhook delivery jobs. Each takes ids, calls a service, and is safe to run twice (the delivery is claimed)."""

from __future__ import annotations

from celery import shared_task

from integrations.services import webhooks


@shared_task(acks_late=True)
def webhook_delivery_attempt(delivery_id: int) -> str:
    """Attempt one delivery if it is due; a failure schedules its own retry (and the sweep backs that up)."""
    return webhooks.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(acks_late=True)
def webhook_deliveries_enqueue_due() -> int:
    """Every minute: enqueue due deliveries whose task was lost (broker outage) or whose subscription resumed."""
    return webhooks.webhook_deliveries_enqueue_due()


@shared_task(acks_late=True)
def webhook_log_prune() -> int:
    """Nightly: forget delivered events past the log's keep period (pending deliveries are never pruned)."""
    return webhooks.webhook_log_prune()
