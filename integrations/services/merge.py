"""An operator merges two member records of one person (signed up twice, imported under another address).

Everything moves to the target, each app moving its own rows through its merge service: the shared stream
(activities, notifications, notification settings the target has not set, follow-up tasks) and external
identities here; profile gaps, tags, applications and exit surveys (members.services.merge); feedback items,
replies, votes, follows, survey responses, reports and moderation actions (feedback.services.merge); event
registrations, topic replies, questions, answers and onboarding progress (engage.services.merge); points through
the ledger, badges, check-ins and the streak, redemptions (rewards.services.merge). Each service settles the
one-row-per-member collisions of its app (see their docstrings). The source is then removed from the program
(members.services.member_remove) with the reason "merged into …"; one audit record lists everything that moved.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from community import domain_events
from community.errors import ServiceError
from community.models import Activity, FollowUpTask, Notification, NotificationPreference
from community.services import audit_record
from engage.services.merge import engage_member_merge
from feedback.services.merge import feedback_member_merge
from integrations.models import ExternalIdentity
from members.models import Member
from members.services import member_remove
from members.services.merge import members_member_merge
from rewards.services import rewards_member_merge


def member_merge(*, actor: Any, source: Member, target: Member) -> dict[str, int]:
    """Merge `source` into `target`; returns what moved. Refused for the same member, a staff account, or a
    source already removed. Atomic: all of it or none."""
    if source.pk == target.pk:
        raise ServiceError(_("Choose two different members."), field="source")
    with transaction.atomic():
        # Both rows locked in id order, so two merges of the same pair cannot interleave.
        locked = {
            m.pk: m
            for m in Member.objects.select_for_update()
            .select_related("user")
            .filter(pk__in=sorted([source.pk, target.pk]))
            .order_by("pk")
        }
        source, target = locked[source.pk], locked[target.pk]
        if source.user.is_staff:
            raise ServiceError(_("A staff account cannot be merged away."), field="source")
        if source.status == Member.Status.REMOVED:
            raise ServiceError(_("This member has already been removed."), field="source")
        if target.status == Member.Status.REMOVED:
            raise ServiceError(_("The target member has been removed."), field="target")
        moved = {
            "activities": Activity.objects.filter(member=source).update(member=target),
            "notifications": Notification.objects.filter(member=source).update(member=target),
            "follow_up_tasks": FollowUpTask.objects.filter(member=source).update(member=target),
            "external_identities": ExternalIdentity.objects.filter(member=source).update(member=target),
        }
        target_kinds = set(NotificationPreference.objects.filter(member=target).values_list("kind", flat=True))
        moved["notification_preferences"] = (
            NotificationPreference.objects.filter(member=source).exclude(kind__in=target_kinds).update(member=target)
        )
        NotificationPreference.objects.filter(member=source).delete()
        # The stream moved first: onboarding, levels and badges are then evaluated on the merged history.
        for app_merge in (members_member_merge, feedback_member_merge, engage_member_merge, rewards_member_merge):
            moved.update(app_merge(source=source, target=target, actor=actor))
        member_remove(member=source, actor=actor, reason=f"merged into member {target.pk}")
        audit_record(
            actor=actor,
            action="member.merge",
            obj=target,
            before={"source_member_id": source.pk, "target_member_id": target.pk},
            after=moved,
        )
        domain_events.publish("member.merged", {"source_member_id": source.pk, "target_member_id": target.pk})
    return moved
