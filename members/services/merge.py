"""Members' part of merging two member records of one person (called by integrations.services.merge).

The target keeps its own profile; what it left blank (bio, avatar, persona) is filled from the source, and it
keeps the earlier join date. Tags are united. Applications and exit surveys move. When both records have an
active application in the same round, the one further along is kept (stage, then status, then the target's)
and the other is withdrawn with a note, so the one-active-application-per-round rule holds.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from community.services import audit_record, model_snapshot
from members.models import Application, ExitSurvey, Member
from members.services.accounts import member_tags_set

# Filled on the target from the source when the target has none.
FILLABLE_FIELDS = ("avatar", "bio", "age_band", "occupation", "interests", "needs")

# How far an active application has got, after its stage: a decision beats a pending one.
STATUS_RANK = {
    Application.Status.REJECTED: 0,
    Application.Status.SUBMITTED: 1,
    Application.Status.SCREENING: 2,
    Application.Status.WAITLISTED: 3,
    Application.Status.INTERVIEW: 4,
    Application.Status.ACCEPTED: 5,
}


def _rank(application: Application) -> tuple[int, int]:
    return application.stage, STATUS_RANK.get(application.status, 0)


def _move_applications(*, source: Member, target: Member, actor: Any) -> tuple[int, int]:
    """(applications moved, duplicates withdrawn)."""
    target_active = {
        app.round_id: app
        for app in Application.objects.select_for_update()
        .filter(member=target)
        .exclude(status=Application.Status.WITHDRAWN)
    }
    note = _("Withdrawn when two member records were merged; the other application is kept.")
    withdrawn = 0
    for app in (
        Application.objects.select_for_update().filter(member=source).exclude(status=Application.Status.WITHDRAWN)
    ):
        kept = target_active.get(app.round_id)
        if kept is None:
            continue
        loser = app if _rank(app) <= _rank(kept) else kept
        before = model_snapshot(loser, ["status", "decision_note"])
        loser.status = Application.Status.WITHDRAWN
        loser.decision_note = f"{loser.decision_note}\n{note}".strip()
        loser.save(update_fields=["status", "decision_note"])
        audit_record(
            actor=actor,
            action="application.withdraw",
            obj=loser,
            before=before,
            after=model_snapshot(loser, ["status", "decision_note"]),
        )
        withdrawn += 1
    return Application.objects.filter(member=source).update(member=target), withdrawn


@transaction.atomic
def members_member_merge(*, source: Member, target: Member, actor: Any) -> dict[str, int]:
    """Move `source`'s profile gaps, tags, applications and exit surveys to `target`; returns the counts, audited.
    Neither record's status changes here (integrations removes the source afterwards)."""
    if source.pk == target.pk:
        raise ValueError("source and target must be two different members")
    source = Member.objects.get(pk=source.pk)
    target = Member.objects.select_for_update().get(pk=target.pk)
    filled = [name for name in FILLABLE_FIELDS if not getattr(target, name) and getattr(source, name)]
    before = model_snapshot(target, [*filled, "joined_at"])
    for name in filled:
        setattr(target, name, getattr(source, name))
    changed = list(filled)
    if source.joined_at < target.joined_at:
        target.joined_at = source.joined_at
        changed.append("joined_at")
    if changed:
        target.save(update_fields=changed)
    source_tags = list(source.tags.all())
    if source_tags:
        member_tags_set(member=target, tags=list({*target.tags.all(), *source_tags}), actor=actor)
    applications, withdrawn = _move_applications(source=source, target=target, actor=actor)
    moved = {
        "profile_fields": len(filled),
        "tags": len(source_tags),
        "applications": applications,
        "applications_withdrawn": withdrawn,
        "exit_surveys": ExitSurvey.objects.filter(member=source).update(member=target),
    }
    audit_record(
        actor=actor,
        action="members.member_merge",
        obj=target,
        before={"source_member_id": source.pk, **before},
        after={**moved, **model_snapshot(target, [*filled, "joined_at"])},
    )
    return moved
