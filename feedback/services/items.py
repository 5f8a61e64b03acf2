"""Write paths of feedback items: submitting, editing, triage, status changes, replies, notes, votes, merging."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from community import domain_events
from community.errors import ServiceError
from community.services import audit_record, model_snapshot, record_activity
from feedback.models import (
    FeedbackItem,
    FeedbackStatus,
    InternalNote,
    Kind,
    Priority,
    ProductArea,
    Reply,
    StatusChange,
    Subscription,
    Vote,
)
from feedback.models.items import BODY_MAX_LENGTH, TITLE_MAX_LENGTH
from feedback.services import attachments as attachment_services
from feedback.services.common import (
    PRIORITY_WEIGHT,
    VOTE_WEIGHT,
    actor_member_id,
    ensure_can_post,
    followers,
    followers_notify,
    impact_expression,
    status_default,
    status_duplicate,
    submitter_weight,
)
from members.models import Member

TITLE_MIN_LENGTH = 3
TRIAGE_FIELDS = ("priority", "assignee", "area", "visibility")
UNSET: Any = object()


# --- validation -------------------------------------------------------------------------------------------


def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if len(title) < TITLE_MIN_LENGTH:
        raise ServiceError(_("Give your feedback a title of at least 3 characters."), field="title")
    if len(title) > TITLE_MAX_LENGTH:
        raise ServiceError(_("Keep the title to 200 characters."), field="title")
    return title


def _clean_body(body: str, *, field: str = "body") -> str:
    body = (body or "").strip()
    if not body:
        raise ServiceError(_("Describe your feedback; the description cannot be empty."), field=field)
    if len(body) > BODY_MAX_LENGTH:
        raise ServiceError(
            _("Keep the text to %(limit)d characters (it has %(length)d).")
            % {"limit": BODY_MAX_LENGTH, "length": len(body)},
            field=field,
        )
    return body


def _clean_context(*, app_version: str, device: str, page_url: str) -> tuple[str, str, str]:
    app_version, device, page_url = (app_version or "").strip(), (device or "").strip(), (page_url or "").strip()
    if len(app_version) > 64:
        raise ServiceError(_("Keep the app version to 64 characters."), field="app_version")
    if len(device) > 120:
        raise ServiceError(_("Keep the device to 120 characters."), field="device")
    if page_url:
        try:
            URLValidator(schemes=["http", "https"])(page_url)
        except ValidationError:
            raise ServiceError(_("The page URL must be an http(s) address."), field="page_url") from None
        if len(page_url) > 500:
            raise ServiceError(_("Keep the page URL to 500 characters."), field="page_url")
    return app_version, device, page_url


def _status_payload(item: FeedbackItem, before: FeedbackStatus | None, after: FeedbackStatus) -> dict[str, Any]:
    return {
        "id": item.pk,
        "kind": item.kind,
        "title": item.title,
        "author_id": item.author_id,
        "from_status": before.key if before else None,
        "to_status": after.key,
        "merged_into": item.merged_into_id,
        "changed_at": timezone.now().isoformat(),
    }


# --- submitting and editing -------------------------------------------------------------------------------


def item_submit(
    *,
    author: Member,
    kind: str,
    title: str,
    body: str,
    area: ProductArea | None = None,
    visibility: str = FeedbackItem.Visibility.PUBLIC,
    app_version: str = "",
    device: str = "",
    page_url: str = "",
    source: str = FeedbackItem.Source.PORTAL,
    attachments: Sequence[Any] = (),
    actor: Any | None = None,
) -> FeedbackItem:
    """Submit feedback (portal or API): validated, stored with its files, recorded on the activity stream."""
    ensure_can_post(author)
    if kind not in Kind.values:
        raise ServiceError(_("Choose what kind of feedback this is."), field="kind")
    if visibility not in FeedbackItem.Visibility.values:
        raise ServiceError(_("Choose public or private."), field="visibility")
    if area is not None and not area.is_active:
        raise ServiceError(_("This product area is no longer in use."), field="area")
    title, body = _clean_title(title), _clean_body(body)
    app_version, device, page_url = _clean_context(app_version=app_version, device=device, page_url=page_url)
    # Every file is checked before anything is written, so a refused file leaves no half-submitted item.
    checked = attachment_services.attachments_check(list(attachments))
    weight = submitter_weight(author)
    now = timezone.now()
    with transaction.atomic():
        status = status_default()
        item = FeedbackItem.objects.create(
            author=author,
            kind=kind,
            title=title,
            body=body,
            area=area,
            status=status,
            visibility=visibility,
            source=source,
            app_version=app_version,
            device=device,
            page_url=page_url,
            submitter_weight=weight,
            impact_score=weight + PRIORITY_WEIGHT[Priority.NORMAL],
            created_at=now,
            updated_at=now,
        )
        StatusChange.objects.create(item=item, from_status=None, to_status=status, actor=author.user, created_at=now)
        attachment_services.attachments_store(item=item, member=author, checked=checked)
        audit_record(actor=actor or author.user, action="feedback.submit", obj=item, after=model_snapshot(item))
        record_activity(
            member=author,
            verb="feedback_submitted",
            target=item,
            data={"kind": kind, "category": kind, "source": source},
            occurred_at=now,
            dedupe_key=f"feedback_submitted:{item.pk}",
        )
        domain_events.publish(
            "feedback.created",
            {
                "id": item.pk,
                "kind": kind,
                "title": title,
                "author_id": author.pk,
                "visibility": visibility,
                "area": area.name if area else None,
                "status": status.key,
                "source": source,
                "created_at": now.isoformat(),
            },
        )
    return item


def item_edit(*, item: FeedbackItem, actor: Any, title: str | None = None, body: str | None = None) -> FeedbackItem:
    """The submitter corrects the title or description (the edit is audited with before/after)."""
    with transaction.atomic():
        item = FeedbackItem.objects.select_for_update().get(pk=item.pk)
        ensure_can_post(item.author)
        before = model_snapshot(item, ["title", "body"])
        if title is not None:
            item.title = _clean_title(title)
        if body is not None:
            item.body = _clean_body(body)
        item.updated_at = timezone.now()
        item.save(update_fields=["title", "body", "updated_at"])
        audit_record(
            actor=actor, action="feedback.edit", obj=item, before=before, after=model_snapshot(item, ["title", "body"])
        )
    return item


def item_triage(
    *,
    item: FeedbackItem,
    actor: Any,
    priority: int | None = None,
    assignee: Any = UNSET,
    area: Any = UNSET,
    visibility: str | None = None,
) -> FeedbackItem:
    """Operators set priority, assignee, product area or visibility. The impact score follows the priority."""
    with transaction.atomic():
        item = FeedbackItem.objects.select_for_update().get(pk=item.pk)
        before = model_snapshot(item, TRIAGE_FIELDS)
        if priority is not None:
            if priority not in Priority.values:
                raise ServiceError(_("Choose a known priority."), field="priority")
            item.priority = priority
        if assignee is not UNSET:
            if assignee is not None and not assignee.is_staff:
                raise ServiceError(_("Only staff can be assigned feedback."), field="assignee")
            item.assignee = assignee
        if area is not UNSET:
            item.area = area
        if visibility is not None:
            if visibility not in FeedbackItem.Visibility.values:
                raise ServiceError(_("Choose public or private."), field="visibility")
            item.visibility = visibility
        after = model_snapshot(item, TRIAGE_FIELDS)
        if after == before:
            return item
        item.updated_at = timezone.now()
        item.save(update_fields=[*TRIAGE_FIELDS, "updated_at"])
        FeedbackItem.objects.filter(pk=item.pk).update(impact_score=impact_expression(item.priority))
        item.refresh_from_db(fields=["impact_score"])
        audit_record(actor=actor, action="feedback.triage", obj=item, before=before, after=after)
    return item


# --- status changes ---------------------------------------------------------------------------------------


def _apply_status(*, item: FeedbackItem, status: FeedbackStatus, actor: Any, note: str, now) -> FeedbackStatus:
    """Move a locked item to `status`: history row, timestamps, and the rewards hook the first time it is accepted."""
    previous = item.status
    item.status = status
    item.updated_at = now
    fields = ["status", "updated_at"]
    if item.first_response_at is None:
        item.first_response_at = now
        fields.append("first_response_at")
    if status.is_closed and item.resolved_at is None:
        item.resolved_at = now
        fields.append("resolved_at")
    if status.decision and item.decided_at is None:
        item.decided_at = now
        fields.append("decided_at")
    if status.is_accepted and item.accepted_at is None:
        item.accepted_at = now
        fields.append("accepted_at")
    item.save(update_fields=fields)
    StatusChange.objects.create(
        item=item, from_status=previous, to_status=status, actor=actor, note=note, created_at=now
    )
    if status.is_accepted:
        # The key makes this count once per item: re-opening and accepting again finds the first activity.
        record_activity(
            member=item.author,
            verb="feedback_accepted",
            target=item,
            data={"kind": item.kind, "status": status.key},
            occurred_at=now,
            dedupe_key=f"feedback_accepted:{item.pk}",
        )
    return previous


def item_status_change(*, item: FeedbackItem, actor: Any, status: FeedbackStatus, note: str = "") -> FeedbackItem:
    """An operator moves feedback to another status; the submitter, voters and subscribers are told."""
    note = (note or "").strip()
    if len(note) > 500:
        raise ServiceError(_("Keep the note to 500 characters."), field="note")
    if not status.is_active:
        raise ServiceError(_("This status is no longer in use."), field="status")
    if status.is_duplicate:
        raise ServiceError(_("Merge the feedback into its original to mark it a duplicate."), field="status")
    now = timezone.now()
    with transaction.atomic():
        item = FeedbackItem.objects.select_for_update().get(pk=item.pk)
        if item.merged_into_id is not None:
            raise ServiceError(_("This feedback was merged into another; change the original instead."), field="status")
        if item.status_id == status.pk:
            return item
        before = model_snapshot(item, ["status", "first_response_at", "resolved_at", "accepted_at"])
        previous = _apply_status(item=item, status=status, actor=actor, note=note, now=now)
        audit_record(
            actor=actor,
            action="feedback.status_change",
            obj=item,
            before=before,
            after={**model_snapshot(item, ["status", "first_response_at", "resolved_at", "accepted_at"]), "note": note},
        )
        domain_events.publish("feedback.status_changed", _status_payload(item, previous, status))
        followers_notify(
            item=item,
            kind="feedback_status_changed",
            context={"status": status.name, "previous_status": previous.name if previous else "", "note": note},
            exclude_member_id=actor_member_id(actor),
        )
    return item


# --- replies and internal notes ---------------------------------------------------------------------------


def reply_post(*, item: FeedbackItem, author: Member | None, body: str, actor: Any | None = None) -> Reply:
    """An operator's public answer; it counts as the first response and everyone following the item is told.

    `author` None posts as the community team (imports, the demo)."""
    if author is not None:
        ensure_can_post(author)
    body = _clean_body(body)
    now = timezone.now()
    with transaction.atomic():
        item = FeedbackItem.objects.select_for_update().get(pk=item.pk)
        reply = Reply.objects.create(item=item, author=author, body=body, created_at=now)
        fields = ["updated_at"]
        item.updated_at = now
        if item.first_response_at is None:
            item.first_response_at = now
            fields.append("first_response_at")
        item.save(update_fields=fields)
        audit_record(
            actor=actor or (author.user if author else None),
            action="feedback.reply",
            obj=reply,
            after=model_snapshot(reply),
        )
        domain_events.publish(
            "feedback.replied",
            {"id": item.pk, "reply_id": reply.pk, "author_id": author.pk if author else None, "at": now.isoformat()},
        )
        followers_notify(
            item=item,
            kind="feedback_reply",
            context={"author": author.display_name if author else _("The community team"), "excerpt": body[:300]},
            exclude_member_id=author.pk if author else None,
        )
    return reply


def note_add(*, item: FeedbackItem, actor: Any, body: str) -> InternalNote:
    """An internal note: operators only ever see it."""
    body = _clean_body(body)
    with transaction.atomic():
        note = InternalNote.objects.create(item=item, author=actor, body=body)
        audit_record(actor=actor, action="feedback.note_add", obj=note, after=model_snapshot(note))
    return note


# --- votes and subscriptions ------------------------------------------------------------------------------


def _ensure_can_support(*, item: FeedbackItem, member: Member) -> FeedbackItem:
    # Read afresh: a page open for a while may show an item merged or made private since.
    item = FeedbackItem.objects.only("pk", "author_id", "visibility", "merged_into_id").get(pk=item.pk)
    if member.status != Member.Status.ACTIVE:
        raise ServiceError(_("Only active members of the program can vote."), code="not_active")
    if item.visibility != FeedbackItem.Visibility.PUBLIC and item.author_id != member.pk:
        raise ServiceError(_("This feedback is private."), code="private")
    if item.merged_into_id is not None:
        raise ServiceError(_("This feedback was merged into another; vote on the original."), code="merged")
    return item


def vote_add(*, item: FeedbackItem, member: Member) -> bool:
    """+1 on someone else's feedback. Returns False when the member had voted already (the count moves once)."""
    item = _ensure_can_support(item=item, member=member)
    if item.author_id == member.pk:
        raise ServiceError(_("You cannot vote on your own feedback."), code="own")
    with transaction.atomic():
        try:
            with transaction.atomic():
                vote = Vote.objects.create(item=item, member=member)
        except IntegrityError:
            return False
        # The count moves in the same statement as the impact, so concurrent votes never lose an update.
        FeedbackItem.objects.filter(pk=item.pk).update(
            vote_count=F("vote_count") + 1, impact_score=F("impact_score") + VOTE_WEIGHT
        )
        audit_record(actor=member.user, action="feedback.vote", obj=vote, after={"item": item.pk, "member": member.pk})
    return True


def vote_remove(*, item: FeedbackItem, member: Member) -> bool:
    with transaction.atomic():
        deleted, _detail = Vote.objects.filter(item=item, member=member).delete()
        if not deleted:
            return False
        FeedbackItem.objects.filter(pk=item.pk, vote_count__gt=0).update(
            vote_count=F("vote_count") - 1, impact_score=F("impact_score") - VOTE_WEIGHT
        )
        audit_record(actor=member.user, action="feedback.unvote", obj=item, before={"member": member.pk})
    return True


def subscription_add(*, item: FeedbackItem, member: Member) -> bool:
    item = _ensure_can_support(item=item, member=member)
    with transaction.atomic():
        _subscription, created = Subscription.objects.get_or_create(item=item, member=member)
        if created:
            audit_record(actor=member.user, action="feedback.subscribe", obj=item, after={"member": member.pk})
    return created


def subscription_remove(*, item: FeedbackItem, member: Member) -> bool:
    with transaction.atomic():
        deleted, _detail = Subscription.objects.filter(item=item, member=member).delete()
        if deleted:
            audit_record(actor=member.user, action="feedback.unsubscribe", obj=item, before={"member": member.pk})
    return bool(deleted)


# --- merging duplicates -----------------------------------------------------------------------------------


def item_merge(*, duplicate: FeedbackItem, original: FeedbackItem, actor: Any, note: str = "") -> FeedbackItem:
    """Merge a duplicate into its original: votes, subscribers and the duplicate's author carry over, once each.

    Both rows are locked in id order, so two operators merging A into B and B into A at the same moment
    serialise; the second finds one of them merged already and is refused (no cycle, nothing lost).
    """
    if duplicate.pk == original.pk:
        raise ServiceError(_("Feedback cannot be merged into itself."), field="original")
    now = timezone.now()
    with transaction.atomic():
        locked = {
            row.pk: row
            # No joins while locking: PostgreSQL would re-check a joined row changed meanwhile and drop ours.
            for row in FeedbackItem.objects.select_for_update()
            .filter(pk__in=[duplicate.pk, original.pk])
            .order_by("pk")
        }
        duplicate, original = locked[duplicate.pk], locked[original.pk]
        if duplicate.merged_into_id is not None:
            raise ServiceError(
                _("Feedback #%(id)d was already merged into #%(into)d.")
                % {"id": duplicate.pk, "into": duplicate.merged_into_id},
                field="duplicate",
            )
        if original.merged_into_id is not None:
            raise ServiceError(
                _("Feedback #%(id)d is itself merged into #%(into)d; merge into that one instead.")
                % {"id": original.pk, "into": original.merged_into_id},
                field="original",
            )
        duplicate_status = status_duplicate()
        before = {
            "duplicate": model_snapshot(duplicate, ["status", "merged_into", "vote_count"]),
            "original": model_snapshot(original, ["vote_count"]),
        }
        # Told after the move: everyone who followed the duplicate, voters included, hears where it went.
        recipients = followers(duplicate, exclude_member_id=actor_member_id(actor))
        supporters = set(Vote.objects.filter(item=original).values_list("member_id", flat=True))
        supporters.add(original.author_id)
        carried_votes = [
            member_id
            for member_id in Vote.objects.filter(item=duplicate).values_list("member_id", flat=True)
            if member_id not in supporters
        ]
        if duplicate.author_id not in supporters and duplicate.author_id not in carried_votes:
            carried_votes.append(duplicate.author_id)
        Vote.objects.bulk_create(
            [Vote(item=original, member_id=member_id, created_at=now) for member_id in carried_votes],
            ignore_conflicts=True,
        )
        subscribers = set(Subscription.objects.filter(item=duplicate).values_list("member_id", flat=True))
        subscribers.add(duplicate.author_id)
        subscribers.discard(original.author_id)
        Subscription.objects.bulk_create(
            [Subscription(item=original, member_id=member_id, created_at=now) for member_id in sorted(subscribers)],
            ignore_conflicts=True,
        )
        Vote.objects.filter(item=duplicate).delete()
        # Anything merged into the duplicate earlier now points at the original too: no chains.
        FeedbackItem.objects.filter(merged_into=duplicate).update(merged_into=original)
        original.vote_count = Vote.objects.filter(item=original).count()
        original.updated_at = now
        original.save(update_fields=["vote_count", "updated_at"])
        FeedbackItem.objects.filter(pk=original.pk).update(impact_score=impact_expression(original.priority))
        duplicate.merged_into = original
        duplicate.vote_count = 0
        duplicate.save(update_fields=["merged_into", "vote_count"])
        FeedbackItem.objects.filter(pk=duplicate.pk).update(impact_score=impact_expression(duplicate.priority))
        note = (note or "").strip()[:400] or _("Merged into #%(id)d.") % {"id": original.pk}
        previous = _apply_status(item=duplicate, status=duplicate_status, actor=actor, note=note, now=now)
        audit_record(
            actor=actor,
            action="feedback.merge",
            obj=duplicate,
            before=before,
            after={
                "duplicate": model_snapshot(duplicate, ["status", "merged_into", "vote_count"]),
                "original": {"vote_count": original.vote_count, "carried_votes": carried_votes},
            },
        )
        domain_events.publish("feedback.status_changed", _status_payload(duplicate, previous, duplicate_status))
        followers_notify(
            item=original,
            kind="feedback_merged",
            context={"duplicate_title": duplicate.title, "duplicate_id": duplicate.pk},
            members=recipients,
        )
    original.refresh_from_db()
    return original


def item_delete(*, item: FeedbackItem, actor: Any) -> None:
    """Operators delete an item (spam); everything hanging off it goes with it, and the audit keeps a copy."""
    with transaction.atomic():
        item = FeedbackItem.objects.select_for_update().get(pk=item.pk)
        if item.duplicates.exists():
            raise ServiceError(_("Other feedback was merged into this one; it cannot be deleted."))
        audit_record(actor=actor, action="feedback.delete", obj=item, before=model_snapshot(item))
        item.delete()
