"""An operator merges two member records of one person (signed up twice, imported under another address).

What can move moves to the target: activities, notifications, notification preferences the target has not set,
follow-up tasks, external identities and tags. Points move through the ledger, never by editing it: the source
gets a deduction of everything it holds, the target an award of the source's lifetime points and a spend of what
the source had already spent — so both balances and both histories stay true. The source is then removed from the
program (members.services.member_remove) with the reason "merged into …". Badges, feedback, applications and
other apps' rows stay with the source (their owners have no move service yet); the audit record lists the counts.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from community import domain_events
from community.errors import ServiceError
from community.models import Activity, FollowUpTask, Notification, NotificationPreference
from community.services import audit_record
from integrations.models import ExternalIdentity
from members.models import Member
from members.services import member_remove, member_tags_set
from rewards.models import PointBalance
from rewards.services.ledger import points_award, points_deduct, points_spend


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
        source_tags = list(source.tags.all())
        if source_tags:
            member_tags_set(member=target, tags=list({*target.tags.all(), *source_tags}), actor=actor)
        moved["tags"] = len(source_tags)
        moved["points"] = _move_points(actor=actor, source=source, target=target)
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


def _move_points(*, actor: Any, source: Member, target: Member) -> int:
    balance = PointBalance.objects.select_for_update().filter(member_id=source.pk).first()
    if balance is None or not (balance.lifetime or balance.spendable):
        return 0
    lifetime, spendable = balance.lifetime, balance.spendable
    key = f"merge:{source.pk}:{target.pk}"
    reason = _("Merged member records")
    # The deduction is capped per balance, so asking for the larger takes exactly what the source holds.
    points_deduct(
        member=source, amount=max(lifetime, spendable), reason=reason, idempotency_key=f"{key}:out", actor=actor
    )
    if lifetime:
        points_award(member=target, amount=lifetime, reason=reason, idempotency_key=f"{key}:in", actor=actor)
        if lifetime > spendable:
            points_spend(
                member=target, amount=lifetime - spendable, reason=reason, idempotency_key=f"{key}:spent", actor=actor
            )
    elif spendable:  # refunds can leave spendable points without lifetime ones
        points_award(member=target, amount=spendable, reason=reason, idempotency_key=f"{key}:in", actor=actor)
    return lifetime
