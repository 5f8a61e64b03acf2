"""Events: registration with a waitlist, cancellation with promotion, check-in, reminders and lottery draws."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from community import domain_events
from community.errors import ServiceError
from community.services import audit_record, model_snapshot, notify, record_activity
from engage.models import Event, EventRegistration, LotteryDraw
from members.models import Member
from rewards.selectors.shop import level_held

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud at a door
CODE_LENGTH = 8
REMINDER_HORIZON = timedelta(days=8)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _starts_text(event: Event, member: Member) -> str:
    from zoneinfo import ZoneInfo

    with translation.override(member.locale):
        return formats.date_format(event.starts_at.astimezone(ZoneInfo(member.time_zone)), "DATETIME_FORMAT")


def _event_context(event: Event, member: Member, registration: EventRegistration | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"title": event.title, "starts": _starts_text(event, member), "event_id": event.pk}
    if registration is not None:
        context["code"] = registration.check_in_code
    return context


def event_url(event: Event) -> str:
    return f"/events/{event.pk}/"


def event_eligibility_error(*, event: Event, member: Member) -> str | None:
    """Why this member may not register (segment or level restriction), or None."""
    if event.segments and member.segment not in event.segments:
        return _("This event is for members of another segment.")
    if event.min_level_id is not None:
        held = level_held(member=member)
        if held is None or held.threshold < event.min_level.threshold:
            return _("This event needs the level %(level)s or higher.") % {"level": event.min_level.display_name}
    if member.status != Member.Status.ACTIVE:
        return _("Only active members can register.")
    return None


def event_create(*, actor: Any, **fields: Any) -> Event:
    """Create an event (operators). Fields as on the model."""
    event = Event(created_by=actor if getattr(actor, "is_authenticated", False) else None, **fields)
    if event.ends_at <= event.starts_at:
        raise ServiceError(_("The event must end after it starts."), field="ends_at")
    with transaction.atomic():
        event.save()
        audit_record(actor=actor, action="event.create", obj=event, after=model_snapshot(event))
    return event


def event_publish(*, event: Event, actor: Any) -> Event:
    """Open a draft event for registration."""
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event.pk)
        if event.status != Event.Status.DRAFT:
            return event
        before = model_snapshot(event)
        event.status = Event.Status.PUBLISHED
        event.save(update_fields=["status"])
        audit_record(actor=actor, action="event.publish", obj=event, before=before, after=model_snapshot(event))
    return event


def event_cancel(*, event: Event, actor: Any) -> Event:
    """Call an event off: everyone registered or waiting is told (one bulk fan-out)."""
    from community.notifications import notify_bulk

    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event.pk)
        if event.status == Event.Status.CANCELLED:
            return event
        before = model_snapshot(event)
        event.status = Event.Status.CANCELLED
        event.save(update_fields=["status"])
        audit_record(actor=actor, action="event.cancel", obj=event, before=before, after=model_snapshot(event))
        members = [
            registration.member
            for registration in EventRegistration.objects.select_related("member__user").filter(
                event=event,
                status__in=[EventRegistration.Status.REGISTERED, EventRegistration.Status.WAITLISTED],
            )
        ]
        notify_bulk(members=members, kind="event_cancelled", context={"title": event.title}, url=event_url(event))
        domain_events.publish("event.cancelled", {"event_id": event.pk})
    return event


def event_register(*, member: Member, event: Event, actor: Any | None = None) -> EventRegistration:
    """Take a seat, or a place on the waitlist when the event is full. Registering again returns the same row.

    The event row is locked, so parallel registrations are counted one after another: the seats go to the
    first, the rest are waitlisted in the order they got the lock.
    """
    actor = actor if actor is not None else member.user
    with transaction.atomic():
        event = Event.objects.select_for_update(of=("self",)).select_related("min_level").get(pk=event.pk)
        now = timezone.now()
        if event.status != Event.Status.PUBLISHED:
            raise ServiceError(_("This event is not open for registration."), field="event")
        if event.starts_at <= now:
            raise ServiceError(_("This event has already started."), field="event")
        existing = EventRegistration.objects.filter(event=event, member=member).first()
        if existing is not None and existing.status != EventRegistration.Status.CANCELLED:
            return existing
        reason = event_eligibility_error(event=event, member=member)
        if reason:
            raise ServiceError(reason, field="event")
        taken = EventRegistration.objects.filter(event=event, status=EventRegistration.Status.REGISTERED).count()
        has_seat = event.capacity is None or taken < event.capacity
        status = EventRegistration.Status.REGISTERED if has_seat else EventRegistration.Status.WAITLISTED
        before = model_snapshot(existing) if existing is not None else None
        registration = existing or EventRegistration(event=event, member=member, check_in_code=_new_code())
        registration.status = status
        registration.queued_at = now
        registration.cancelled_at = None
        try:
            with transaction.atomic():
                registration.save()
        except IntegrityError:  # a code collision (1 in 10^12): draw another once
            registration.check_in_code = _new_code()
            registration.save()
        audit_record(
            actor=actor, action="event.register", obj=registration, before=before, after=model_snapshot(registration)
        )
        record_activity(
            member=member,
            verb="event_registered",
            target=event,
            data={"status": status},
            dedupe_key=f"event_registered:{event.pk}:{member.pk}",
        )
        domain_events.publish(
            "event.registered",
            {
                "event_id": event.pk,
                "member_id": member.pk,
                "registration_id": registration.pk,
                "status": status,
                "starts_at": event.starts_at.isoformat(),
            },
        )
        kind = "event_registered" if has_seat else "event_waitlisted"
        notify(member=member, kind=kind, context=_event_context(event, member, registration), url=event_url(event))
    return registration


def event_registration_cancel(*, registration: EventRegistration, actor: Any) -> EventRegistration:
    """Give up a seat (or a waitlist place). A freed seat goes to the first on the waitlist."""
    with transaction.atomic():
        event = Event.objects.select_for_update(of=("self",)).get(pk=registration.event_id)
        registration = EventRegistration.objects.select_related("member").get(pk=registration.pk)
        if registration.status == EventRegistration.Status.CANCELLED:
            return registration
        if registration.checked_in_at is not None:
            raise ServiceError(_("You have already checked in to this event."), field="registration")
        had_seat = registration.status == EventRegistration.Status.REGISTERED
        before = model_snapshot(registration)
        registration.status = EventRegistration.Status.CANCELLED
        registration.cancelled_at = timezone.now()
        registration.save(update_fields=["status", "cancelled_at"])
        audit_record(
            actor=actor,
            action="event.registration_cancel",
            obj=registration,
            before=before,
            after=model_snapshot(registration),
        )
        domain_events.publish(
            "event.registration_cancelled",
            {"event_id": event.pk, "member_id": registration.member_id, "registration_id": registration.pk},
        )
        if had_seat and event.starts_at > timezone.now():
            _promote_waitlist(event)
    return registration


def _promote_waitlist(event: Event) -> list[EventRegistration]:
    """Give every free seat to the waitlist, first come first served; called with the event row locked."""
    taken = EventRegistration.objects.filter(event=event, status=EventRegistration.Status.REGISTERED).count()
    free = None if event.capacity is None else max(0, event.capacity - taken)
    if free == 0:
        return []
    waiting = (
        EventRegistration.objects.select_related("member")
        .filter(event=event, status=EventRegistration.Status.WAITLISTED)
        .order_by("queued_at", "id")
    )
    promoted = list(waiting if free is None else waiting[:free])
    for registration in promoted:
        before = model_snapshot(registration)
        registration.status = EventRegistration.Status.REGISTERED
        registration.save(update_fields=["status"])
        audit_record(
            actor=None,
            action="event.waitlist_promote",
            obj=registration,
            before=before,
            after=model_snapshot(registration),
        )
        notify(
            member=registration.member,
            kind="event_promoted",
            context=_event_context(event, registration.member, registration),
            url=event_url(event),
        )
    return promoted


def event_waitlist_promote(*, event: Event) -> list[EventRegistration]:
    """After an operator raises the capacity (or removes it): move the waitlist up into the new seats."""
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event.pk)
        if event.status != Event.Status.PUBLISHED or event.starts_at <= timezone.now():
            return []
        return _promote_waitlist(event)


def event_check_in(*, event: Event, code: str, actor: Any) -> EventRegistration:
    """Check a member in by the code they show at the door; records attendance once (points by rule)."""
    code = (code or "").strip().upper()
    with transaction.atomic():
        registration = (
            EventRegistration.objects.select_for_update(of=("self",))
            .select_related("member", "event")
            .filter(event_id=event.pk, check_in_code=code)
            .first()
        )
        if registration is None:
            raise ServiceError(_("No registration for this event has that code."), field="code")
        event = registration.event
        if event.status == Event.Status.CANCELLED:
            raise ServiceError(_("This event was cancelled."), field="code")
        if registration.status != EventRegistration.Status.REGISTERED:
            raise ServiceError(_("This code belongs to a waitlisted or cancelled registration."), field="code")
        if registration.checked_in_at is not None:
            return registration
        before = model_snapshot(registration)
        registration.checked_in_at = timezone.now()
        registration.save(update_fields=["checked_in_at"])
        audit_record(
            actor=actor, action="event.check_in", obj=registration, before=before, after=model_snapshot(registration)
        )
        record_activity(
            member=registration.member,
            verb="event_attended",
            target=event,
            data={"kind": event.kind},
            dedupe_key=f"event_attended:{event.pk}:{registration.member_id}",
        )
        domain_events.publish("event.attended", {"event_id": event.pk, "member_id": registration.member_id})
    return registration


def event_reminders_send(*, now: datetime | None = None) -> int:
    """Remind registered members of events starting within each event's reminder window. Safe to re-run:
    each registration is claimed with a conditional update before it is told."""
    now = now or timezone.now()
    sent = 0
    events = Event.objects.filter(
        status=Event.Status.PUBLISHED, starts_at__gt=now, starts_at__lte=now + REMINDER_HORIZON, reminder_hours__gt=0
    )
    for event in events:
        if event.starts_at > now + timedelta(hours=event.reminder_hours):
            continue
        due = EventRegistration.objects.select_related("member").filter(
            event=event, status=EventRegistration.Status.REGISTERED, reminded_at__isnull=True
        )
        for registration in due:
            with transaction.atomic():
                claimed = EventRegistration.objects.filter(pk=registration.pk, reminded_at__isnull=True).update(
                    reminded_at=now
                )
                if not claimed:
                    continue
                notify(
                    member=registration.member,
                    kind="event_reminder",
                    context=_event_context(event, registration.member, registration),
                    url=event_url(event),
                )
                sent += 1
        Event.objects.filter(pk=event.pk, reminded_at__isnull=True).update(reminded_at=now)
    return sent


# --- lotteries ----------------------------------------------------------------------------------------------


def lottery_ranking(*, seed: str, entrants: Sequence[int]) -> list[int]:
    """Entrants ordered by sha256(f"{seed}:{member_id}"): the draw anyone can recompute."""
    return sorted(entrants, key=lambda member_id: hashlib.sha256(f"{seed}:{member_id}".encode()).hexdigest())


def lottery_draw(*, event: Event, actor: Any, seed: str | None = None) -> LotteryDraw:
    """Draw a lottery's winners among its registered members, once; the seed is recorded for verification."""
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event.pk)
        if event.kind != Event.Kind.LOTTERY:
            raise ServiceError(_("Only a lottery has a draw."), field="event")
        if event.winners_count < 1:
            raise ServiceError(_("Set how many winners the lottery has first."), field="winners_count")
        if LotteryDraw.objects.filter(event=event).exists():
            raise ServiceError(_("This lottery has been drawn already."), field="event")
        seed = seed or secrets.token_hex(16)
        entrants = sorted(
            EventRegistration.objects.filter(event=event, status=EventRegistration.Status.REGISTERED).values_list(
                "member_id", flat=True
            )
        )
        if not entrants:
            raise ServiceError(_("Nobody is registered for this lottery."), field="event")
        winners = lottery_ranking(seed=seed, entrants=entrants)[: event.winners_count]
        draw = LotteryDraw.objects.create(
            event=event,
            seed=seed,
            entrants=entrants,
            winners=winners,
            drawn_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(actor=actor, action="event.lottery_draw", obj=draw, after=model_snapshot(draw))
        for member in Member.objects.filter(pk__in=winners):
            notify(
                member=member,
                kind="lottery_won",
                context={"title": event.title, "seed": seed, "event_id": event.pk},
                url=event_url(event),
            )
        domain_events.publish("event.lottery_drawn", {"event_id": event.pk, "seed": seed, "winners": winners})
    return draw


def lottery_verify(*, draw: LotteryDraw) -> bool:
    """Recompute the draw from its recorded seed and entrants."""
    count = len(draw.winners)
    return lottery_ranking(seed=draw.seed, entrants=draw.entrants)[:count] == draw.winners
