"""Engage's part of merging two member records of one person (called by integrations.services.merge).

Event registrations, topic replies, questions and answers move to the target. When both records registered for
the same event, the better registration is kept — checked in, then registered, then waitlisted (earlier in the
queue first), then cancelled; on a tie the target's — and the other is deleted; a seat freed that way goes to the
waitlist. Onboarding progress is the activity stream's (moved before this runs): the target's checklist is then
synced, so a step either record reached counts once. Lottery draws keep the ids they were drawn with (they must
stay verifiable).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from community.services import audit_record, model_snapshot
from engage.models import Answer, Event, EventRegistration, Question, TopicReply
from engage.services import onboarding
from engage.services.events import event_waitlist_promote
from members.models import Member

STATUS_RANK = {
    EventRegistration.Status.CANCELLED: 0,
    EventRegistration.Status.WAITLISTED: 1,
    EventRegistration.Status.REGISTERED: 2,
}


def _better(first: EventRegistration, second: EventRegistration) -> EventRegistration:
    """The registration to keep of two for one event; `first` (the target's) wins a tie."""

    def key(registration: EventRegistration) -> tuple[int, int, float]:
        queued = registration.queued_at.timestamp() if registration.status == EventRegistration.Status.WAITLISTED else 0
        return (registration.checked_in_at is not None, STATUS_RANK[registration.status], -queued)

    return second if key(second) > key(first) else first


def _move_registrations(*, source: Member, target: Member, actor: Any) -> tuple[int, int, list[int]]:
    """(registrations moved, duplicates deleted, events where a seat was freed)."""
    held = {
        registration.event_id: registration
        for registration in EventRegistration.objects.select_for_update().filter(member=target)
    }
    deleted = 0
    freed: list[int] = []
    for registration in EventRegistration.objects.select_for_update().filter(member=source).order_by("event_id"):
        kept = held.get(registration.event_id)
        if kept is None:
            continue
        loser = kept if _better(kept, registration) is registration else registration
        audit_record(actor=actor, action="event.registration_merge_drop", obj=loser, before=model_snapshot(loser))
        if loser.status == EventRegistration.Status.REGISTERED:  # so the kept one holds a seat too
            freed.append(loser.event_id)
        loser.delete()
        deleted += 1
    moved = EventRegistration.objects.filter(member=source).update(member=target)
    return moved, deleted, freed


@transaction.atomic
def engage_member_merge(*, source: Member, target: Member, actor: Any) -> dict[str, int]:
    """Move `source`'s event registrations and content to `target` (see the module docstring); returns the
    counts, audited."""
    if source.pk == target.pk:
        raise ValueError("source and target must be two different members")
    registrations, dropped, freed = _move_registrations(source=source, target=target, actor=actor)
    promoted = 0
    now = timezone.now()
    for event in Event.objects.filter(pk__in=freed, status=Event.Status.PUBLISHED, starts_at__gt=now):
        promoted += len(event_waitlist_promote(event=event))
    moved = {
        "event_registrations": registrations,
        "event_registrations_dropped": dropped,
        "waitlist_promoted": promoted,
        "topic_replies": TopicReply.objects.filter(member=source).update(member=target),
        "questions": Question.objects.filter(member=source).update(member=target),
        "answers": Answer.objects.filter(member=source).update(member=target),
        "onboarding_steps": onboarding.onboarding_sync(members=[Member.objects.get(pk=target.pk)]),
    }
    audit_record(
        actor=actor,
        action="engage.member_merge",
        obj=target,
        before={"source_member_id": source.pk, "target_member_id": target.pk},
        after=moved,
    )
    return moved
