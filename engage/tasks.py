"""Celery tasks of the engagement app: each loads and calls a service; all are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from engage.services import events, messages, retention


@shared_task(acks_late=True)
def event_reminders_send() -> int:
    return events.event_reminders_send()


@shared_task(acks_late=True)
def operator_messages_send_due() -> int:
    return messages.messages_send_due()


@shared_task(acks_late=True)
def operator_message_send(message_id: int) -> None:
    from engage.models import OperatorMessage

    message = OperatorMessage.objects.filter(pk=message_id).first()
    if message is not None:
        messages.message_send(message=message, actor=None)


@shared_task(acks_late=True)
def retention_job(job: str) -> dict:
    result = retention.run_daily(job=job)
    return {"job": job, "ran": result.ran, "status": result.run.status, "summary": result.run.summary}
