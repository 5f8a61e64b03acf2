"""Program events API and portal pages: list, register, cancel, check-in, draw, .ics, QR."""

from __future__ import annotations

import pytest

from engage.models import Event, EventRegistration
from engage.services import events as svc
from tests.engage.factories import EventFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/program-events/"


def test_list_and_register_and_cancel(api_member, api_other, member):
    event = EventFactory(capacity=1)
    EventFactory(status=Event.Status.DRAFT)
    listing = api_member.get(URL)
    assert listing.status_code == 200 and [e["id"] for e in listing.json()["results"]] == [event.pk]
    first = api_member.post(f"{URL}{event.pk}/register/")
    assert first.status_code == 201 and first.json()["status"] == "registered"
    assert api_member.post(f"{URL}{event.pk}/register/").status_code == 200  # twice: the same seat
    assert api_other.post(f"{URL}{event.pk}/register/").json()["status"] == "waitlisted"
    assert api_member.get(f"{URL}{event.pk}/").json()["my_status"] == "registered"
    assert api_member.post(f"{URL}{event.pk}/cancel/").json()["status"] == "cancelled"
    assert api_other.get(f"{URL}{event.pk}/").json()["my_status"] == "registered"


def test_refusals_are_400_and_unknowns_404(api_member, api_anon):
    assert api_member.post(f"{URL}{EventFactory(segments=['loyal']).pk}/register/").status_code == 400
    assert api_member.post(f"{URL}{EventFactory(status=Event.Status.DRAFT).pk}/register/").status_code == 404
    assert api_member.post(f"{URL}999999/register/").status_code == 404
    assert api_member.post(f"{URL}{EventFactory().pk}/cancel/").status_code == 404
    assert api_anon.get(URL).status_code == 401


def test_check_in_and_draw_are_for_operators(api_member, api_operator, member):
    event = EventFactory()
    registration = svc.event_register(member=member, event=event)
    assert api_member.post(f"{URL}{event.pk}/check-in/", {"code": registration.check_in_code}).status_code == 403
    done = api_operator.post(f"{URL}{event.pk}/check-in/", {"code": registration.check_in_code})
    assert done.status_code == 200 and done.json()["checked_in_at"]
    assert api_operator.post(f"{URL}{event.pk}/check-in/", {"code": "WRONG"}).status_code == 400
    lottery = EventFactory(kind=Event.Kind.LOTTERY, winners_count=1)
    svc.event_register(member=member, event=lottery)
    assert api_member.post(f"{URL}{lottery.pk}/draw/", {}).status_code == 403
    drawn = api_operator.post(f"{URL}{lottery.pk}/draw/", {"seed": "s1"})
    assert drawn.status_code == 201 and drawn.json()["winners"] == [member.pk]
    assert api_operator.post(f"{URL}{lottery.pk}/draw/", {}).status_code == 400


@pytest.mark.parametrize("rows", [1, 6])
def test_list_query_count_is_constant(api_member, member, django_assert_num_queries, rows):
    for _ in range(rows):
        svc.event_register(member=member, event=EventFactory())
    api_member.get(URL)
    with django_assert_num_queries(EVENT_LIST_QUERIES):
        api_member.get(URL)


EVENT_LIST_QUERIES = 3


def test_portal_event_pages(web_member, member):
    event = EventFactory(title="Roadmap night")
    assert "Roadmap night" in web_member.get("/events/").content.decode()
    assert web_member.post(f"/events/{event.pk}/register/").status_code == 302
    page = web_member.get(f"/events/{event.pk}/").content.decode()
    code = EventRegistration.objects.get(member=member).check_in_code
    assert code in page and "<svg" in page
    assert code in web_member.get("/events/").content.decode()  # "your registrations" on the list
    web_member.post(f"/events/{event.pk}/cancel/")
    assert EventRegistration.objects.get(member=member).status == "cancelled"
    assert web_member.get("/events/999999/").status_code == 404


@pytest.mark.parametrize("rows", [1, 6])
def test_event_list_page_query_count_is_constant(web_member, member, django_assert_num_queries, rows):
    for event in EventFactory.create_batch(rows):
        svc.event_register(member=member, event=event)
    web_member.get("/events/")
    with django_assert_num_queries(EVENT_PAGE_QUERIES):
        web_member.get("/events/")


EVENT_PAGE_QUERIES = 6


def test_door_check_in_page(web_operator, member):
    from django.test import Client

    event = EventFactory()
    registration = svc.event_register(member=member, event=event)
    as_member = Client()
    as_member.force_login(member.user)
    assert as_member.get(f"/events/{event.pk}/check-in/").status_code == 404
    assert web_operator.get(f"/events/{event.pk}/check-in/?code={registration.check_in_code}").status_code == 200
    assert web_operator.post(f"/events/{event.pk}/check-in/", {"code": "NOPE"}).status_code == 400
    assert web_operator.post(f"/events/{event.pk}/check-in/", {"code": registration.check_in_code}).status_code == 302
    registration.refresh_from_db()
    assert registration.checked_in_at is not None


def test_ics_export(client):
    event = EventFactory(title="Meetup, with commas; and more", description="Line one\nLine two")
    EventFactory(status=Event.Status.DRAFT, title="Secret draft")
    single = client.get(f"/events/{event.pk}/event.ics")
    assert single["Content-Type"].startswith("text/calendar")
    text = single.content.decode()
    assert "BEGIN:VCALENDAR" in text and "SUMMARY:Meetup\\, with commas\\; and more" in text
    assert "DESCRIPTION:Line one\\nLine two" in text and text.endswith("END:VCALENDAR\r\n")
    feed = client.get("/events/calendar.ics").content.decode()
    assert feed.count("BEGIN:VEVENT") == 1 and "Secret draft" not in feed
    assert all(len(line.encode()) <= 75 for line in feed.split("\r\n"))


def test_many_members_fill_an_event_in_order():
    event = EventFactory(capacity=3)
    members = MemberFactory.create_batch(5)
    statuses = [svc.event_register(member=m, event=event).status for m in members]
    assert statuses == ["registered"] * 3 + ["waitlisted"] * 2
