"""Operator messages to a segment or tag: preview, test send, send now or at a scheduled moment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.notifications import notify_bulk
from community.services import audit_record, model_snapshot, notify
from engage.models import OperatorMessage
from members.models import Member, Tag

KIND = "operator_message"


def _context(message: OperatorMessage) -> dict[str, Any]:
    return {"subject": message.subject, "message": message.body}


def message_create(
    *,
    actor: Any,
    subject: str,
    body: str,
    segment: str = "",
    tags: Sequence[Tag] = (),
    url: str = "",
) -> OperatorMessage:
    subject, body = (subject or "").strip(), (body or "").strip()
    if not subject:
        raise ServiceError(_("A message needs a subject."), field="subject")
    if not body:
        raise ServiceError(_("Write the message."), field="body")
    if segment and segment not in Member.Segment.values:
        raise ServiceError(_("Choose a segment from the list."), field="segment")
    if url and not url.startswith("/"):
        raise ServiceError(_("Links go to a page of this site and start with “/”."), field="url")
    with transaction.atomic():
        message = OperatorMessage.objects.create(
            subject=subject[:200], body=body, segment=segment, url=url, created_by=actor
        )
        message.tags.set(tags)
        audit_record(actor=actor, action="operator_message.create", obj=message, after=model_snapshot(message))
    return message


def message_audience(*, message: OperatorMessage) -> QuerySet[Member]:
    """Active members of the message's segment and/or with any of its tags (no filter: every active member)."""
    members = Member.objects.filter(status=Member.Status.ACTIVE)
    if message.segment:
        members = members.filter(segment=message.segment)
    tag_ids = list(message.tags.values_list("pk", flat=True))
    if tag_ids:
        members = members.filter(tags__in=tag_ids).distinct()
    return members


def message_preview(*, message: OperatorMessage, locale: str | None = None) -> dict[str, Any]:
    """What a member will see (title, body) and how many members it reaches."""
    with translation.override(locale or translation.get_language()):
        context = {**_context(message), "site_url": settings.SITE_URL}
        title = render_to_string(f"notifications/{KIND}/title.txt", context).strip()
        body = render_to_string(f"notifications/{KIND}/body.txt", context).strip()
    return {"title": title, "body": body, "recipients": message_audience(message=message).count()}


def message_test_send(*, message: OperatorMessage, actor: Any) -> None:
    """Send the message to the operator alone, to see it as a member would."""
    member = getattr(actor, "member", None)
    if member is None:
        raise ServiceError(_("Your account has no member profile to send a test to."), field="subject")
    notify(member=member, kind=KIND, context=_context(message), url=message.url)
    audit_record(actor=actor, action="operator_message.test_send", obj=message)


def message_schedule(*, message: OperatorMessage, when: datetime, actor: Any) -> OperatorMessage:
    if when <= timezone.now():
        raise ServiceError(_("Schedule the message for a moment in the future."), field="scheduled_for")
    with transaction.atomic():
        message = OperatorMessage.objects.select_for_update().get(pk=message.pk)
        if message.status == OperatorMessage.Status.SENT:
            raise ServiceError(_("This message was sent already."), field="scheduled_for")
        before = model_snapshot(message)
        message.status = OperatorMessage.Status.SCHEDULED
        message.scheduled_for = when
        message.save(update_fields=["status", "scheduled_for"])
        audit_record(
            actor=actor, action="operator_message.schedule", obj=message, before=before, after=model_snapshot(message)
        )
    return message


def message_send(*, message: OperatorMessage, actor: Any | None) -> OperatorMessage:
    """Send to the audience once: the row is locked and marked sent in the same transaction as the fan-out."""
    with transaction.atomic():
        message = OperatorMessage.objects.select_for_update().get(pk=message.pk)
        if message.status == OperatorMessage.Status.SENT:
            return message
        before = model_snapshot(message)
        members = list(message_audience(message=message).select_related("user"))
        count = notify_bulk(members=members, kind=KIND, context=_context(message), url=message.url)
        message.status = OperatorMessage.Status.SENT
        message.sent_at = timezone.now()
        message.recipients_count = count
        message.save(update_fields=["status", "sent_at", "recipients_count"])
        audit_record(
            actor=actor, action="operator_message.send", obj=message, before=before, after=model_snapshot(message)
        )
    return message


def messages_send_due(*, now: datetime | None = None) -> int:
    """Send every scheduled message whose moment has come. Safe to run twice."""
    now = now or timezone.now()
    due = OperatorMessage.objects.filter(status=OperatorMessage.Status.SCHEDULED, scheduled_for__lte=now)
    sent = 0
    for message in due:
        message_send(message=message, actor=None)
        sent += 1
    return sent
