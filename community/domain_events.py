"""Domain events: what happened in the community, told to whoever listens (webhooks, the chat bot, the warehouse).

A capability calls `publish("feedback.created", {...})` inside the service that made the change; listeners
registered with `subscribe` are called only after the transaction commits, so a rolled-back change is never
announced. Listeners must be quick (queue a task) — delivery never blocks the request that caused it.

Event types are `<noun>.<past verb>`: member.accepted, member.left, feedback.created, feedback.status_changed,
points.awarded, badge.awarded, level.changed, reward.redeemed, event.registered, kpi.target_missed …
The payload is JSON-safe data (ids, strings, numbers, ISO datetimes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import transaction

Listener = Callable[[str, dict[str, Any]], None]

_LISTENERS: list[Listener] = []


def subscribe(listener: Listener) -> Listener:
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)
    return listener


def publish(event_type: str, data: Mapping[str, Any]) -> None:
    payload = dict(data)

    def deliver() -> None:
        for listener in list(_LISTENERS):
            listener(event_type, payload)

    transaction.on_commit(deliver)


def publish_many(event_type: str, payloads: Sequence[Mapping[str, Any]]) -> None:
    """Many events of one type (a bulk change), told one by one after a single commit hook."""
    if not payloads:
        return
    batch = [dict(data) for data in payloads]

    def deliver() -> None:
        listeners = list(_LISTENERS)
        for payload in batch:
            for listener in listeners:
                listener(event_type, payload)

    transaction.on_commit(deliver)
