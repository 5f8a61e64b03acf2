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


@shared_task(acks_late=True)
def notification_emails_send_batch(notification_ids: list[int]) -> int:
    """E-mails of a fan-out, a batch per task; each row is locked and sent once."""
    return sum(services.notification_email_send(notification_id=pk) for pk in notification_ids)


@shared_task(acks_late=True)
def notification_digests_send(frequency: str) -> int:
    """Daily or weekly: one digest e-mail per member on that frequency with messages waiting."""
    from community import notifications

    return sum(
        notifications.digest_send(member_id=member_id)
        for member_id in notifications.digest_member_ids(frequency=frequency)
    )
