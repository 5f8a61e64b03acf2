"""Engagement admin pages open for operators."""

from __future__ import annotations

import pytest

from engage.models import Event
from engage.services import events as svc
from tests.engage.factories import ArticleFactory, EventFactory, QuestionFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "event",
    "eventregistration",
    "lotterydraw",
    "announcement",
    "topic",
    "topicreply",
    "question",
    "answer",
    "knowledgecategory",
    "article",
    "operatormessage",
    "retentionsettings",
    "jobrun",
]


@pytest.mark.parametrize("model", PAGES)
def test_changelists_open(web_operator, model):
    EventFactory()
    QuestionFactory()
    ArticleFactory()
    assert web_operator.get(f"/admin/engage/{model}/").status_code == 200


def test_event_add_and_change_pages(web_operator, member):
    event = EventFactory()
    svc.event_register(member=member, event=event)
    assert web_operator.get("/admin/engage/event/add/").status_code == 200
    assert web_operator.get(f"/admin/engage/event/{event.pk}/change/").status_code == 200


def test_lottery_draw_action(web_operator, member):
    event = EventFactory(kind=Event.Kind.LOTTERY, winners_count=1)
    svc.event_register(member=member, event=event)
    web_operator.post("/admin/engage/event/", {"action": "draw_lottery", "_selected_action": [event.pk]})
    assert event.draw.winners == [member.pk]


def test_members_cannot_open_the_admin(web_member):
    assert web_member.get("/admin/engage/event/").status_code == 302
