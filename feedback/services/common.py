"""Helpers every feedback service shares: who may post, the configured statuses, impact weights, followers."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import notify
from feedback.models import FeedbackItem, FeedbackStatus, ModerationAction, Priority
from members.models import Member

# Impact = votes x VOTE_WEIGHT + the submitter's weight (level and segment) + the priority's weight.
VOTE_WEIGHT = 10
LEVEL_WEIGHT = 5
SEGMENT_WEIGHT = {Member.Segment.NOVICE: 0, Member.Segment.ACTIVE: 5, Member.Segment.LOYAL: 10}
PRIORITY_WEIGHT = {Priority.LOW: 0, Priority.NORMAL: 10, Priority.HIGH: 25, Priority.URGENT: 50}


def active_mute(member: Member, *, now=None) -> ModerationAction | None:
    now = now or timezone.now()
    return (
        ModerationAction.objects.filter(
            member_id=member.pk, kind=ModerationAction.Kind.MUTE, muted_until__gt=now, lifted_at__isnull=True
        )
        .order_by("-muted_until")
        .first()
    )


def ensure_can_post(member: Member) -> None:
    """Refuse a contribution from a member who is muted or no longer takes part in the program."""
    # Read afresh: a request may carry a profile loaded before a moderator removed the member.
    current = Member.objects.filter(pk=member.pk).values_list("status", flat=True).first()
    if current != Member.Status.ACTIVE:
        raise ServiceError(_("Only active members of the program can post."), code="not_active")
    mute = active_mute(member)
    if mute is not None:
        raise ServiceError(
            _("You are muted until %(until)s and cannot post until then.")
            % {"until": timezone.localtime(mute.muted_until).strftime("%Y-%m-%d %H:%M")},
            code="muted",
        )


def status_default() -> FeedbackStatus:
    status = FeedbackStatus.objects.filter(is_default=True).first()
    if status is None:
        status = FeedbackStatus.objects.filter(is_active=True).order_by("order", "id").first()
    if status is None:
        raise ServiceError(_("No feedback status is configured; an operator must add one."))
    return status


def status_duplicate() -> FeedbackStatus:
    status = FeedbackStatus.objects.filter(is_duplicate=True).first()
    if status is None:
        raise ServiceError(_("No status marks duplicates; an operator must configure one."))
    return status


def submitter_weight(member: Member) -> int:
    """The submitter's part of the impact score: their level on the rewards ladder and their segment."""
    from rewards.selectors.points import level_list
    from rewards.selectors.shop import level_held

    held = level_held(member=member)
    rank = 0
    if held is not None:
        ladder = [level.pk for level in level_list()]
        rank = ladder.index(held.pk) if held.pk in ladder else 0
    return rank * LEVEL_WEIGHT + SEGMENT_WEIGHT.get(member.segment, 0)


def impact_expression(priority: int | None = None) -> Any:
    """The impact score as a database expression, so it is recomputed in the same UPDATE as what it depends on."""
    if priority is None:
        return F("vote_count") * VOTE_WEIGHT + F("submitter_weight")
    return F("vote_count") * VOTE_WEIGHT + F("submitter_weight") + PRIORITY_WEIGHT.get(priority, 0)


def impact_refresh(item: FeedbackItem) -> None:
    FeedbackItem.objects.filter(pk=item.pk).update(impact_score=impact_expression(item.priority))


def followers(item: FeedbackItem, *, exclude_member_id: int | None = None) -> list[Member]:
    """Who hears about an item: its submitter, its voters and its subscribers, each once, active members only."""
    members = (
        Member.objects.filter(
            Q(pk=item.author_id) | Q(feedback_votes__item=item) | Q(feedback_subscriptions__item=item),
            status=Member.Status.ACTIVE,
        )
        .select_related("user")
        .distinct()
        .order_by("pk")
    )
    return [member for member in members if member.pk != exclude_member_id]


def item_path(item: FeedbackItem) -> str:
    from django.urls import reverse

    return reverse("feedback:detail", args=[item.pk])


def followers_notify(
    *,
    item: FeedbackItem,
    kind: str,
    context: dict[str, Any],
    exclude_member_id: int | None = None,
    members: list[Member] | None = None,
) -> int:
    """Notify each follower once, in their own language (`notify` renders under their locale)."""
    url = item_path(item)
    sent = 0
    recipients = members if members is not None else followers(item, exclude_member_id=exclude_member_id)
    for member in recipients:
        if notify(member=member, kind=kind, context={**context, "title": item.title, "item_id": item.pk}, url=url):
            sent += 1
    return sent


def actor_member_id(actor: Any) -> int | None:
    member = getattr(actor, "member", None) if actor is not None else None
    return getattr(member, "pk", None)
