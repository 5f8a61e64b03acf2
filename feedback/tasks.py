"""Scheduled jobs of feedback."""

from celery import shared_task

from feedback.services import sla_check_run


@shared_task(acks_late=True)
def feedback_sla_check() -> dict[str, int]:
    """Every 30 minutes: file follow-up tasks for overdue feedback and unanswered questions (each once, by key)
    and tell operators what was filed. Safe to run twice."""
    result = sla_check_run()
    return {"filed": result.filed, "operators_notified": result.operators_notified}
