"""Celery tasks: each takes primary keys, loads, and calls a service. Safe to run twice."""

from celery import shared_task

from community import selectors, services


@shared_task(acks_late=True)
def notification_send_email(notification_id: int) -> bool:
    return services.notification_email_send(notification_id=notification_id)


@shared_task(acks_late=True)
def notification_emails_send_pending() -> int:
    """Sweep: send emails left pending (a broker outage at commit time, a failed attempt under the limit)."""
    sent = 0
    for notification_id in selectors.notification_ids_pending_email():
        sent += services.notification_email_send(notification_id=notification_id)
    return sent
