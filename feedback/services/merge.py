"""Feedback's part of merging two member records of one person (called by integrations.services.merge).

Everything the source wrote or did in feedback moves to the target: items (and their attachments), replies,
votes, follows, survey responses, reports filed and received, moderation actions (a mute follows the person).
Where the database allows one row per member, the merge keeps one:

- both voted on an item → one vote stays; a vote that would land on the target's own item is dropped (members do
  not vote on their own feedback); the counts and impact scores of every touched item are recounted;
- both follow an item → one follow; following one's own item is implied, so such a follow is dropped;
- both answered a survey → the target's response is kept, the source's is deleted with its answers;
- both have an open report on the same content → the target's stays open, the source's is dismissed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from community.services import audit_record
from feedback.models import (
    Attachment,
    FeedbackItem,
    ModerationAction,
    Priority,
    Reply,
    Report,
    Subscription,
    SurveyResponse,
    Vote,
)
from feedback.services.common import impact_expression
from members.models import Member


def _move_votes(*, source: Member, target: Member) -> tuple[int, int, set[int]]:
    """(votes moved, votes dropped, items whose count must be recounted). Items have moved to the target."""
    touched = set(Vote.objects.filter(member__in=[source, target]).values_list("item_id", flat=True))
    target_items = FeedbackItem.objects.filter(author=target).values("pk")
    target_voted = Vote.objects.filter(member=target).values("item_id")
    dropped = Vote.objects.filter(member=source, item__in=target_voted).delete()[0]
    # Votes on the target's own items, from either record (the target's are on items that came from the source).
    dropped += Vote.objects.filter(member__in=[source, target], item__in=target_items).delete()[0]
    moved = Vote.objects.filter(member=source).update(member=target)
    return moved, dropped, touched


def _recount(item_ids: set[int]) -> None:
    if not item_ids:
        return
    votes = (
        Vote.objects.filter(item_id=OuterRef("pk"))
        .order_by()
        .values("item_id")
        .annotate(total=Count("pk"))
        .values("total")
    )
    items = FeedbackItem.objects.filter(pk__in=sorted(item_ids))
    items.update(vote_count=Coalesce(Subquery(votes, output_field=IntegerField()), Value(0)))
    for priority in Priority.values:
        items.filter(priority=priority).update(impact_score=impact_expression(priority))


def _move_subscriptions(*, source: Member, target: Member) -> int:
    followed = Subscription.objects.filter(member=target).values("item_id")
    Subscription.objects.filter(member=source, item__in=followed).delete()
    Subscription.objects.filter(member=source, item__author=target).delete()
    return Subscription.objects.filter(member=source).update(member=target)


def _move_survey_responses(*, source: Member, target: Member) -> tuple[int, int]:
    answered = SurveyResponse.objects.filter(member=target).values("survey_id")
    dropped = SurveyResponse.objects.filter(member=source, survey__in=answered).count()
    SurveyResponse.objects.filter(member=source, survey__in=answered).delete()  # answers go with them
    return SurveyResponse.objects.filter(member=source).update(member=target), dropped


def _move_reports(*, source: Member, target: Member, actor: Any) -> tuple[int, int]:
    """(reports filed or received that moved, duplicates dismissed)."""
    member_type = ContentType.objects.get_for_model(Member)
    # Reports about the source as a person now name the target.
    about_source = Report.objects.filter(target_type=member_type, target_id=str(source.pk))
    open_about_target = set(
        Report.objects.filter(target_type=member_type, target_id=str(target.pk), status=Report.Status.OPEN).values_list(
            "reporter_id", flat=True
        )
    )
    now = timezone.now()
    handler = actor if getattr(actor, "is_authenticated", False) else None
    note = _("Duplicate after merging member records.")
    dismissed = about_source.filter(status=Report.Status.OPEN, reporter_id__in=open_about_target).update(
        status=Report.Status.DISMISSED, handled_at=now, handled_by=handler, resolution_note=note
    )
    moved = about_source.update(target_id=str(target.pk))
    # Reports the source filed: one open report per content and reporter.
    open_by_target = set(
        Report.objects.filter(reporter=target, status=Report.Status.OPEN).values_list("target_type_id", "target_id")
    )
    for report in Report.objects.filter(reporter=source, status=Report.Status.OPEN).only("target_type", "target_id"):
        if (report.target_type_id, report.target_id) in open_by_target:
            dismissed += Report.objects.filter(pk=report.pk).update(
                status=Report.Status.DISMISSED, handled_at=now, handled_by=handler, resolution_note=note
            )
    moved += Report.objects.filter(reporter=source).update(reporter=target)
    moved += Report.objects.filter(target_member=source).update(target_member=target)
    return moved, dismissed


@transaction.atomic
def feedback_member_merge(*, source: Member, target: Member, actor: Any) -> dict[str, int]:
    """Move `source`'s feedback to `target` (see the module docstring); returns the counts, audited."""
    if source.pk == target.pk:
        raise ValueError("source and target must be two different members")
    items = FeedbackItem.objects.filter(author=source).update(author=target)
    Attachment.objects.filter(uploaded_by=source).update(uploaded_by=target)
    votes, votes_dropped, touched = _move_votes(source=source, target=target)
    _recount(touched)
    responses, responses_dropped = _move_survey_responses(source=source, target=target)
    reports, reports_dismissed = _move_reports(source=source, target=target, actor=actor)
    moved = {
        "feedback_items": items,
        "feedback_replies": Reply.objects.filter(author=source).update(author=target),
        "feedback_votes": votes,
        "feedback_votes_dropped": votes_dropped,
        "feedback_follows": _move_subscriptions(source=source, target=target),
        "survey_responses": responses,
        "survey_responses_dropped": responses_dropped,
        "reports": reports,
        "reports_dismissed": reports_dismissed,
        "moderation_actions": ModerationAction.objects.filter(member=source).update(member=target),
    }
    audit_record(
        actor=actor,
        action="feedback.member_merge",
        obj=target,
        before={"source_member_id": source.pk, "target_member_id": target.pk},
        after=moved,
    )
    return moved
