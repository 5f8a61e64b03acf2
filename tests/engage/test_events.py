"""Events: registration, waitlist, cancellation with promotion, check-in, reminders, lotteries, restrictions."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from community.errors import ServiceError
from community.models import Activity, Notification
from engage.models import Event, EventRegistration, LotteryDraw
from engage.services import events as svc
from members.models import Member
from tests.engage.factories import EventFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_register_takes_a_seat_records_activity_and_notifies(member, django_capture_on_commit_callbacks):
    event = EventFactory(capacity=2)
    published = []
    from community import domain_events

    domain_events.subscribe(lambda kind, data: published.append((kind, data)))
    with django_capture_on_commit_callbacks(execute=True):
        registration = svc.event_register(member=member, event=event)
    assert registration.status == EventRegistration.Status.REGISTERED
    assert len(registration.check_in_code) == svc.CODE_LENGTH
    assert Activity.objects.filter(member=member, verb="event_registered").count() == 1
    assert Notification.objects.get(member=member).kind == "event_registered"
    assert (
        "event.registered",
        {
            "event_id": event.pk,
            "member_id": member.pk,
            "registration_id": registration.pk,
            "status": "registered",
            "starts_at": event.starts_at.isoformat(),
        },
    ) in published


def test_registering_twice_returns_the_same_seat(member):
    event = EventFactory(capacity=1)
    first = svc.event_register(member=member, event=event)
    second = svc.event_register(member=member, event=event)
    assert first.pk == second.pk
    assert EventRegistration.objects.count() == 1
    assert Activity.objects.filter(verb="event_registered").count() == 1


def test_past_capacity_members_are_waitlisted_in_order():
    event = EventFactory(capacity=1)
    members = MemberFactory.create_batch(3)
    regs = [svc.event_register(member=m, event=event) for m in members]
    assert [r.status for r in regs] == ["registered", "waitlisted", "waitlisted"]
    assert Notification.objects.get(member=members[1]).kind == "event_waitlisted"


def test_cancel_promotes_the_first_waitlisted(member):
    event = EventFactory(capacity=1)
    others = MemberFactory.create_batch(2)
    seat = svc.event_register(member=member, event=event)
    waiting = [svc.event_register(member=m, event=event) for m in others]
    svc.event_registration_cancel(registration=seat, actor=member.user)
    statuses = dict(EventRegistration.objects.values_list("member_id", "status"))
    assert statuses == {member.pk: "cancelled", others[0].pk: "registered", others[1].pk: "waitlisted"}
    assert Notification.objects.filter(member=others[0], kind="event_promoted").exists()
    assert waiting[0].pk != waiting[1].pk


def test_rejoining_after_cancelling_goes_to_the_back_of_the_queue(member, other_member):
    event = EventFactory(capacity=1)
    seat = svc.event_register(member=member, event=event)
    svc.event_registration_cancel(registration=seat, actor=member.user)
    svc.event_register(member=other_member, event=event)
    again = svc.event_register(member=member, event=event)
    assert again.pk == seat.pk and again.status == "waitlisted"


def test_draft_started_and_cancelled_events_refuse_registration(member):
    for event in (
        EventFactory(status=Event.Status.DRAFT),
        EventFactory(status=Event.Status.CANCELLED),
        EventFactory(starts_at=timezone.now() - timedelta(hours=1)),
    ):
        with pytest.raises(ServiceError):
            svc.event_register(member=member, event=event)
    assert not EventRegistration.objects.exists()


def test_segment_restriction(member):
    event = EventFactory(segments=["loyal"])
    with pytest.raises(ServiceError, match="segment"):
        svc.event_register(member=member, event=event)
    Member.objects.filter(pk=member.pk).update(segment="loyal")
    member.refresh_from_db()
    assert svc.event_register(member=member, event=event).status == "registered"


def test_level_restriction(member):
    from rewards.models import Level

    level = Level.objects.order_by("threshold").last()
    event = EventFactory(min_level=level)
    with pytest.raises(ServiceError, match="level"):
        svc.event_register(member=member, event=event)


def test_check_in_records_attendance_once_and_awards_points(member, operator):
    from rewards.selectors.ledger import balance_for_member

    event = EventFactory()
    registration = svc.event_register(member=member, event=event)
    before = balance_for_member(member=member).lifetime
    svc.event_check_in(event=event, code=registration.check_in_code.lower(), actor=operator.user)
    svc.event_check_in(event=event, code=registration.check_in_code, actor=operator.user)
    attended = Activity.objects.filter(member=member, verb="event_attended")
    assert attended.count() == 1
    assert attended.get().dedupe_key == f"event_attended:{event.pk}:{member.pk}"
    assert balance_for_member(member=member).lifetime > before


def test_check_in_refuses_a_wrong_code_and_a_waitlisted_one(member, other_member, operator):
    event = EventFactory(capacity=1)
    svc.event_register(member=member, event=event)
    waiting = svc.event_register(member=other_member, event=event)
    with pytest.raises(ServiceError, match="code"):
        svc.event_check_in(event=event, code="NOPE1234", actor=operator.user)
    with pytest.raises(ServiceError, match="waitlisted"):
        svc.event_check_in(event=event, code=waiting.check_in_code, actor=operator.user)
    other_event = EventFactory()
    with pytest.raises(ServiceError):
        svc.event_check_in(event=other_event, code=waiting.check_in_code, actor=operator.user)


def test_cancel_after_check_in_is_refused(member, operator):
    event = EventFactory()
    registration = svc.event_register(member=member, event=event)
    svc.event_check_in(event=event, code=registration.check_in_code, actor=operator.user)
    with pytest.raises(ServiceError):
        svc.event_registration_cancel(registration=registration, actor=member.user)


def test_reminders_are_sent_once_within_the_window(member, other_member):
    soon = EventFactory(starts_at=timezone.now() + timedelta(hours=5), reminder_hours=24)
    later = EventFactory(starts_at=timezone.now() + timedelta(days=5), reminder_hours=24)
    svc.event_register(member=member, event=soon)
    svc.event_register(member=other_member, event=later)
    assert svc.event_reminders_send() == 1
    assert svc.event_reminders_send() == 0
    assert Notification.objects.filter(kind="event_reminder").count() == 1
    assert Notification.objects.get(kind="event_reminder").member == member


def test_lottery_draw_is_recorded_and_verifiable(operator):
    event = EventFactory(kind=Event.Kind.LOTTERY, capacity=None, winners_count=2)
    members = MemberFactory.create_batch(5)
    for m in members:
        svc.event_register(member=m, event=event)
    draw = svc.lottery_draw(event=event, actor=operator.user, seed="abc")
    assert len(draw.winners) == 2 and set(draw.winners) <= {m.pk for m in members}
    assert draw.entrants == sorted(m.pk for m in members)
    assert svc.lottery_verify(draw=draw)
    assert draw.winners == svc.lottery_ranking(seed="abc", entrants=draw.entrants)[:2]
    assert Notification.objects.filter(kind="lottery_won").count() == 2
    with pytest.raises(ServiceError, match="already"):
        svc.lottery_draw(event=event, actor=operator.user)
    draw.winners = list(reversed(draw.winners))
    assert not svc.lottery_verify(draw=draw)
    assert LotteryDraw.objects.count() == 1


def test_lottery_draw_refused_for_other_kinds(operator):
    with pytest.raises(ServiceError):
        svc.lottery_draw(event=EventFactory(), actor=operator.user)


@pytest.mark.django_db(transaction=True)
def test_parallel_registrations_give_one_seat_and_waitlist_the_rest_in_order():
    event = EventFactory(capacity=1)
    members = MemberFactory.create_batch(6)
    barrier = threading.Barrier(len(members) + 1)  # the same member registering twice races too
    errors: list[BaseException] = []

    def register(member):
        try:
            barrier.wait()
            svc.event_register(member=member, event=event)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(m,)) for m in [*members, members[0]]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    regs = list(EventRegistration.objects.filter(event=event).order_by("queued_at", "id"))
    assert len(regs) == len(members)
    assert [r.status for r in regs].count("registered") == 1
    assert regs[0].status == "registered"  # the seat went to whoever got the lock first; the rest queue after
    assert all(r.status == "waitlisted" for r in regs[1:])
    assert len({r.queued_at for r in regs}) == len(regs)


def test_raising_the_capacity_moves_the_waitlist_up_in_order():
    event = EventFactory(capacity=1)
    members = MemberFactory.create_batch(4)
    for m in members:
        svc.event_register(member=m, event=event)
    Event.objects.filter(pk=event.pk).update(capacity=3)
    promoted = svc.event_waitlist_promote(event=event)
    assert [r.member_id for r in promoted] == [members[1].pk, members[2].pk]
    assert EventRegistration.objects.get(member=members[3]).status == "waitlisted"


@pytest.mark.django_db(transaction=True)
def test_cancel_and_register_racing_keep_the_capacity():
    event = EventFactory(capacity=2)
    seated = MemberFactory.create_batch(2)
    seats = [svc.event_register(member=m, event=event) for m in seated]
    newcomers = MemberFactory.create_batch(4)
    barrier = threading.Barrier(len(newcomers) + 1)
    errors: list[BaseException] = []

    def run(action):
        try:
            barrier.wait()
            action()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    actions = [lambda m=m: svc.event_register(member=m, event=event) for m in newcomers]
    actions.append(lambda: svc.event_registration_cancel(registration=seats[0], actor=None))
    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    registered = EventRegistration.objects.filter(event=event, status="registered").count()
    assert registered == 2
    assert EventRegistration.objects.filter(event=event, status="waitlisted").count() == 3


def test_cancelling_an_event_tells_everyone_registered_or_waiting(member, other_member, operator):
    event = EventFactory(capacity=1)
    svc.event_register(member=member, event=event)
    svc.event_register(member=other_member, event=event)
    svc.event_cancel(event=event, actor=operator.user)
    svc.event_cancel(event=event, actor=operator.user)
    assert Notification.objects.filter(kind="event_cancelled").count() == 2
    event.refresh_from_db()
    assert event.status == "cancelled"
    with pytest.raises(ServiceError):
        svc.event_register(member=MemberFactory(), event=event)
