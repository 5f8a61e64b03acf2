"""The Celery app `make chaos` runs its worker with: the project's app, plus a short broker visibility timeout and sweep
(so a message a killed worker never acknowledged comes back within seconds, not the default hour) and one award task.

The award task is the shape every awarding job in the project has: take primary keys, call the ledger's
`points_award` with an idempotency key, and be safe to run twice. It holds for a moment before and after the award
(driven by the chaos run) so the worker can be killed at either point; progress marks go to Redis.
"""

from __future__ import annotations

import time

from community.celery import app

VISIBILITY_TIMEOUT = 5
# Sweep for messages past their visibility timeout every 2 s (kombu's defaults sweep about every 100 s).
app.conf.broker_transport_options = {
    **(app.conf.broker_transport_options or {}),
    "visibility_timeout": VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 2,
    "unacked_restore_throttle": 1,
}


def marks():
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


@app.task(name="bench.chaos_award", acks_late=True)
def chaos_award(*, member_id: int, amount: int, key: str, hold_before: float, hold_after: float) -> int:
    from members.models import Member
    from rewards.services import points_award

    store = marks()
    store.incr(f"{key}:started")
    time.sleep(hold_before)
    result = points_award(
        member=Member.objects.get(pk=member_id), amount=amount, reason="chaos award", idempotency_key=key
    )
    store.incr(f"{key}:awarded")
    time.sleep(hold_after)
    store.incr(f"{key}:finished")
    return result.entry.pk
