"""Reports (举报) and moderation actions: warn, mute for a period, remove from the program. Each is audited and
told to the member; a mute is respected by every posting path (see `common.ensure_can_post`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import audit_record, model_snapshot, notify, record_activity
from feedback.models import FeedbackItem, ModerationAction, Reply, Report
from feedback.models.moderation import NOTE_MAX_LENGTH
from members.models import Member

MAX_MUTE_DAYS = 365


def _member_behind(target: models.Model) -> Member | None:
    """Whose content a target is: the member reported, the author of a feedback item or reply, or the member
    another app's content names as `author` or `member`."""
    if isinstance(target, Member):
        return target
    if isinstance(target, FeedbackItem | Reply):
        return target.author
    for attribute in ("author", "member"):
        candidate = getattr(target, attribute, None)
        if isinstance(candidate, Member):
            return candidate
    return None


def report_file(*, reporter: Member, target: models.Model, reason: str, note: str = "") -> Report:
    """A member reports content or another member. One open report per reporter and target."""
    if reporter.status != Member.Status.ACTIVE:
        raise ServiceError(_("Only active members of the program can report."), code="not_active")
    if reason not in Report.Reason.values:
        raise ServiceError(_("Choose why you are reporting this."), field="reason")
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise ServiceError(_("Keep the note to 2000 characters."), field="note")
    if reason == Report.Reason.OTHER and not note:
        raise ServiceError(_("Tell the moderators what is wrong."), field="note")
    if target is None or target.pk is None:
        raise ServiceError(_("There is nothing to report."), field="target")
    target_member = _member_behind(target)
    if target_member is not None and target_member.pk == reporter.pk:
        raise ServiceError(_("You cannot report yourself or your own content."), field="target")
    excerpt = str(target)
    if isinstance(target, FeedbackItem):
        excerpt = f"{target.title} — {target.body}"
    elif isinstance(target, Reply):
        excerpt = target.body
    report = Report(
        reporter=reporter,
        target_type=ContentType.objects.get_for_model(target),
        target_id=str(target.pk),
        target_member=target_member,
        reason=reason,
        note=note,
        target_excerpt=excerpt[:300],
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                report.save()
        except IntegrityError:
            raise ServiceError(
                _("You have reported this already; the moderators will look at it."), code="duplicate"
            ) from None
        audit_record(actor=reporter.user, action="feedback.report_file", obj=report, after=model_snapshot(report))
    return report


def _report_close(*, report: Report | None, actor: Any, status: str, note: str) -> None:
    if report is None:
        return
    report = Report.objects.select_for_update().get(pk=report.pk)
    if report.status != Report.Status.OPEN:
        return
    before = model_snapshot(report, ["status", "resolution_note"])
    report.status = status
    report.handled_by = actor if getattr(actor, "is_authenticated", False) else None
    report.handled_at = timezone.now()
    report.resolution_note = note
    report.save(update_fields=["status", "handled_by", "handled_at", "resolution_note"])
    audit_record(
        actor=actor,
        action=f"feedback.report_{status}",
        obj=report,
        before=before,
        after=model_snapshot(report, ["status", "resolution_note"]),
    )
    if status == Report.Status.ACTIONED and report.reason == Report.Reason.SPAM and report.target_member_id:
        # The point rule for spam deducts once per reported content, however many members reported it.
        record_activity(
            member=report.target_member,
            verb="reported_for_spam",
            target=report,
            data={"target_type": report.target_type.model, "target_id": report.target_id},
            dedupe_key=f"reported_for_spam:{report.target_type_id}:{report.target_id}",
        )


def report_dismiss(*, report: Report, actor: Any, note: str = "") -> Report:
    with transaction.atomic():
        _report_close(report=report, actor=actor, status=Report.Status.DISMISSED, note=(note or "").strip())
    report.refresh_from_db()
    return report


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_("Give a reason; the member is told it."), field="reason")
    if len(reason) > NOTE_MAX_LENGTH:
        raise ServiceError(_("Keep the reason to 2000 characters."), field="reason")
    return reason


def _act(
    *, member: Member, kind: str, actor: Any, reason: str, report: Report | None, muted_until: datetime | None = None
) -> ModerationAction:
    action = ModerationAction.objects.create(
        member=member, kind=kind, reason=reason, muted_until=muted_until, report=report, actor=actor
    )
    audit_record(actor=actor, action=f"feedback.moderation_{kind}", obj=action, after=model_snapshot(action))
    _report_close(report=report, actor=actor, status=Report.Status.ACTIONED, note=reason)
    return action


def moderation_warn(*, member: Member, actor: Any, reason: str, report: Report | None = None) -> ModerationAction:
    reason = _clean_reason(reason)
    with transaction.atomic():
        action = _act(member=member, kind=ModerationAction.Kind.WARN, actor=actor, reason=reason, report=report)
        notify(member=member, kind="moderation_warned", context={"reason": reason}, url="")
    return action


def moderation_mute(
    *, member: Member, actor: Any, reason: str, until: datetime, report: Report | None = None
) -> ModerationAction:
    """Mute a member until `until`: the portal and API refuse their posts until then."""
    reason = _clean_reason(reason)
    now = timezone.now()
    if until is None or until <= now:
        raise ServiceError(_("A mute must end in the future."), field="until")
    if (until - now).days > MAX_MUTE_DAYS:
        raise ServiceError(_("Mute for at most a year; remove the member instead."), field="until")
    with transaction.atomic():
        action = _act(
            member=member, kind=ModerationAction.Kind.MUTE, actor=actor, reason=reason, report=report, muted_until=until
        )
        notify(
            member=member,
            kind="moderation_muted",
            context={"reason": reason, "until": timezone.localtime(until).strftime("%Y-%m-%d %H:%M")},
            url="",
        )
    return action


def moderation_mute_lift(*, action: ModerationAction, actor: Any) -> ModerationAction:
    with transaction.atomic():
        action = ModerationAction.objects.select_for_update().get(pk=action.pk)
        if action.kind != ModerationAction.Kind.MUTE or action.lifted_at is not None:
            return action
        before = model_snapshot(action, ["lifted_at"])
        action.lifted_at = timezone.now()
        action.save(update_fields=["lifted_at"])
        audit_record(
            actor=actor, action="feedback.moderation_unmute", obj=action, before=before, after=model_snapshot(action)
        )
    return action


def moderation_remove(*, member: Member, actor: Any, reason: str, report: Report | None = None) -> ModerationAction:
    """Remove the member from the program (移出社群) through the members service, with the reason."""
    from members.services import member_remove

    reason = _clean_reason(reason)
    with transaction.atomic():
        member_remove(member=member, actor=actor, reason=reason)
        action = _act(member=member, kind=ModerationAction.Kind.REMOVE, actor=actor, reason=reason, report=report)
        notify(member=member, kind="moderation_removed", context={"reason": reason}, url="")
    return action
