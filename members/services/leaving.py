"""Leaving the program from the portal: an exit survey, the member's open applications withdrawn, a follow-up task
for operators ("ask why, try to win back") and the `member.left` event for KPIs and webhooks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from community import domain_events
from community.errors import ServiceError
from community.services import audit_record, follow_up_task_file, model_snapshot
from members.models import Application, ExitSurvey, Member

OPEN_STATUSES = [
    Application.Status.SUBMITTED,
    Application.Status.SCREENING,
    Application.Status.INTERVIEW,
    Application.Status.WAITLISTED,
]


@transaction.atomic
def member_leave(
    *, member: Member, reason: str, actor: Any, detail: str = "", would_return: bool = False
) -> ExitSurvey:
    """The member leaves the program; their account stays so they can come back through a new application."""
    if reason not in ExitSurvey.Reason.values:
        raise ServiceError(_("Tell us why you are leaving."), field="reason")
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != Member.Status.ACTIVE:
        raise ServiceError(_("You are not in the program any more."), code="not_active")
    now = timezone.now()
    before = model_snapshot(member, ["status", "left_at"])
    survey = ExitSurvey.objects.create(
        member=member, reason=reason, detail=detail.strip(), would_return=would_return, created_at=now
    )
    member.status = Member.Status.LEFT
    member.left_at = now
    member.save(update_fields=["status", "left_at"])
    withdrawn = Application.objects.filter(member=member, status__in=OPEN_STATUSES).update(
        status=Application.Status.WITHDRAWN
    )
    audit_record(
        actor=actor,
        action="member.leave",
        obj=member,
        before=before,
        after={**model_snapshot(member, ["status", "left_at"]), "reason": reason, "withdrawn": withdrawn},
    )
    with translation.override(settings.LANGUAGE_CODE):  # written for operators, not in the leaver's language
        reason_label = str(ExitSurvey.Reason(reason).label)
        title = _("%(name)s left the program: ask why, try to win back") % {"name": member.display_name}
        might_return = _("Might come back.")
    follow_up_task_file(
        kind="member_left",
        title=title,
        member=member,
        target=survey,
        detail=f"{reason_label}\n\n{survey.detail}".strip() + ("\n\n" + might_return if would_return else ""),
        url=reverse("admin:members_exitsurvey_change", args=[survey.pk]),
        dedupe_key=f"member_left:{survey.pk}",
        actor=actor,
    )
    domain_events.publish(
        "member.left",
        {"member_id": member.pk, "reason": reason, "would_return": would_return, "left_at": now.isoformat()},
    )
    return survey
