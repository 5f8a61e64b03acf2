"""Operator messages to a segment or tag: preview, test send, scheduled send, sent once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from community.errors import ServiceError
from community.models import Notification
from engage import tasks
from engage.models import OperatorMessage
from engage.services import messages
from members.models import Member
from tests.factories import MemberFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def audience():
    loyal = MemberFactory.create_batch(2, segment=Member.Segment.LOYAL)
    tagged = MemberFactory(segment=Member.Segment.NOVICE)
    tag = TagFactory(name="beta")
    tagged.tags.add(tag)
    MemberFactory(segment=Member.Segment.LOYAL, status=Member.Status.LEFT)
    return {"loyal": loyal, "tagged": tagged, "tag": tag}


def test_segment_message_reaches_active_members_of_the_segment_once(audience, operator):
    message = messages.message_create(actor=operator.user, subject="Hello loyal", body="Thanks!", segment="loyal")
    assert messages.message_preview(message=message)["recipients"] == 2
    messages.message_send(message=message, actor=operator.user)
    messages.message_send(message=message, actor=operator.user)
    assert set(Notification.objects.values_list("member_id", flat=True)) == {m.pk for m in audience["loyal"]}
    message.refresh_from_db()
    assert message.status == "sent" and message.recipients_count == 2


def test_tag_message(audience, operator):
    message = messages.message_create(actor=operator.user, subject="Beta", body="New build", tags=[audience["tag"]])
    messages.message_send(message=message, actor=operator.user)
    assert list(Notification.objects.values_list("member_id", flat=True)) == [audience["tagged"].pk]
    assert Notification.objects.get().title == "Beta"


def test_preview_and_test_send(operator):
    message = messages.message_create(actor=operator.user, subject="Hi", body="Body")
    preview = messages.message_preview(message=message)
    assert preview["title"] == "Hi" and preview["body"] == "Body"
    messages.message_test_send(message=message, actor=operator.user)
    assert Notification.objects.get().member == operator
    message.refresh_from_db()
    assert message.status == "draft"


def test_scheduled_send_happens_when_due_and_once(audience, operator):
    message = messages.message_create(actor=operator.user, subject="Later", body="b", segment="loyal")
    with pytest.raises(ServiceError):
        messages.message_schedule(message=message, when=timezone.now() - timedelta(minutes=1), actor=operator.user)
    messages.message_schedule(message=message, when=timezone.now() + timedelta(hours=1), actor=operator.user)
    assert tasks.operator_messages_send_due() == 0
    OperatorMessage.objects.filter(pk=message.pk).update(scheduled_for=timezone.now() - timedelta(seconds=1))
    assert tasks.operator_messages_send_due() == 1
    assert tasks.operator_messages_send_due() == 0
    assert Notification.objects.count() == 2


def test_bad_input_is_refused(operator):
    with pytest.raises(ServiceError):
        messages.message_create(actor=operator.user, subject="", body="b")
    with pytest.raises(ServiceError):
        messages.message_create(actor=operator.user, subject="s", body="b", segment="vip")
    with pytest.raises(ServiceError):
        messages.message_create(actor=operator.user, subject="s", body="b", url="https://evil.example/")


def test_admin_actions(web_operator, audience):
    message = messages.message_create(actor=None, subject="Admin sent", body="b", segment="loyal")
    url = "/admin/engage/operatormessage/"
    preview = web_operator.post(url, {"action": "preview", "_selected_action": [message.pk]})
    assert preview.status_code == 200 and "Admin sent" in preview.content.decode()
    web_operator.post(url, {"action": "test_send", "_selected_action": [message.pk]})
    web_operator.post(url, {"action": "send_now", "_selected_action": [message.pk]})
    message.refresh_from_db()
    assert message.status == "sent" and message.recipients_count == 2
