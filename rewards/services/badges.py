"""Badges: awarded when members meet a badge's criteria, granted and revoked by operators.

Evaluation is set-based: for each badge, one query finds which of the given members meet its criteria. A badge
is earned automatically once; after an operator revokes it, only an operator's grant gives it back. Every award
notifies the member ("badge_awarded") and is recorded on the activity stream ("badge_earned").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community import domain_events, notification_kinds
from community.errors import ServiceError
from community.models import Activity
from community.notification_kinds import NotificationKind
from community.selectors import notification_contexts_of_kind
from community.services import (
    ActivityInput,
    activities_record_bulk,
    audit_record,
    audit_record_bulk,
    model_snapshot,
    notify,
    record_activity,
)
from members.models import Member
from rewards.models import Badge, BadgeAward, LeaderboardSnapshot, LeaderboardSnapshotRow, PointBalance
from rewards.models.badges import ACTIVE_BADGES_CACHE_KEY, STREAK_VERB, CriteriaType
from rewards.services.config_cache import ConfigCache

logger = logging.getLogger(__name__)

BADGE_AWARDED = notification_kinds.register(NotificationKind("badge_awarded", gettext_lazy("Badges you earn")))
BADGE_EARNED_VERB = "badge_earned"

# Which criteria each trigger can have changed.
TRIGGER_TYPES = {
    "points": (CriteriaType.LEVEL_REACHED,),
    "activity": (CriteriaType.VERB_COUNT, CriteriaType.STREAK),
    "leaderboard": (CriteriaType.LEADERBOARD_RANK,),
    "schedule": (
        CriteriaType.VERB_COUNT,
        CriteriaType.STREAK,
        CriteriaType.LEVEL_REACHED,
        CriteriaType.LEADERBOARD_RANK,
    ),
}
EVALUATION_CHUNK = 500
# Up to this many automatic awards at once are told in the awarding transaction; more go to a worker.
AWARD_INLINE_MAX = 20
AWARD_TASK_CHUNK = 500
ACTIVE_BADGES_CACHE_SECONDS = 300


def _load_active_badges() -> list[Badge]:
    return list(Badge.objects.filter(is_active=True).order_by("pk"))


# Read after every award and every recorded activity (see rewards.services.config_cache).
_ACTIVE_BADGES = ConfigCache(
    key=ACTIVE_BADGES_CACHE_KEY, load=_load_active_badges, shared_seconds=ACTIVE_BADGES_CACHE_SECONDS
)


def active_badges() -> list[Badge]:
    """The active badges. Saving or deleting a badge forgets them (see rewards.apps)."""
    return _ACTIVE_BADGES.get()


def active_badges_forget(**_kwargs: Any) -> None:
    _ACTIVE_BADGES.forget()


def badge_watch_points() -> frozenset[int]:
    """The lifetime points at which a points badge is earned (badges for a named level follow promotions)."""
    return frozenset(
        int(badge.criteria["threshold"])
        for badge in active_badges()
        if badge.criteria_type == CriteriaType.LEVEL_REACHED and badge.criteria.get("threshold") is not None
    )


# --- criteria checks: (criteria, candidate member ids) -> {member id: evidence} -------------------------------


def _met_verb_count(criteria: dict[str, Any], member_ids: list[int]) -> dict[int, dict[str, Any]]:
    activities = Activity.objects.filter(member_id__in=member_ids, verb=criteria["verb"])
    if criteria.get("window_days"):
        activities = activities.filter(occurred_at__gte=timezone.now() - timedelta(days=criteria["window_days"]))
    counted = (
        activities.values("member_id")
        .annotate(done=Count("id"))
        .filter(done__gte=criteria["count"])
        .values_list("member_id", "done")
    )
    return {member_id: {"verb": criteria["verb"], "count": done} for member_id, done in counted}


def longest_streaks(member_ids: Sequence[int], *, verb: str = STREAK_VERB, at_least: int = 1) -> dict[int, int]:
    """Each member's longest run of consecutive local days with `verb`, for runs of at least `at_least` days.

    Computed from the activity stream in one query (gaps and islands: a day's number minus its row number is
    constant along a run of consecutive days).
    """
    if not member_ids:
        return {}
    table = Activity._meta.db_table
    day_number = (
        "CAST(julianday(local_date) AS INTEGER)"
        if connection.vendor == "sqlite"
        else "(local_date - DATE '2000-01-01')"
    )
    placeholders = ", ".join(["%s"] * len(member_ids))
    sql = (
        "SELECT member_id, MAX(run) FROM ("  # noqa: S608
        "  SELECT member_id, COUNT(*) AS run FROM ("
        f"    SELECT member_id, {day_number} - ROW_NUMBER() OVER (PARTITION BY member_id ORDER BY local_date) AS island"
        f"    FROM (SELECT DISTINCT member_id, local_date FROM {table}"
        f"          WHERE verb = %s AND member_id IN ({placeholders})) d"
        "  ) numbered GROUP BY member_id, island"
        ") runs GROUP BY member_id HAVING MAX(run) >= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [verb, *member_ids, at_least])
        return {member_id: int(run) for member_id, run in cursor.fetchall()}


def _met_streak(criteria: dict[str, Any], member_ids: list[int]) -> dict[int, dict[str, Any]]:
    days = criteria["days"]
    verb = criteria.get("verb") or STREAK_VERB
    runs = longest_streaks(member_ids, verb=verb, at_least=days)
    if verb == STREAK_VERB:
        # The check-in capability keeps each member's best streak; trust it as well as the stream.
        from rewards.models import MemberStreak

        for member_id, longest in MemberStreak.objects.filter(member_id__in=member_ids, longest__gte=days).values_list(
            "member_id", "longest"
        ):
            runs[member_id] = max(runs.get(member_id, 0), longest)
    return {member_id: {"longest_streak": run, "days": days} for member_id, run in runs.items()}


def _met_level(criteria: dict[str, Any], member_ids: list[int]) -> dict[int, dict[str, Any]]:
    if criteria.get("threshold") is not None:
        reached = PointBalance.objects.filter(member_id__in=member_ids, lifetime__gte=criteria["threshold"])
        return {
            member_id: {"lifetime_points": lifetime}
            for member_id, lifetime in reached.values_list("member_id", "lifetime")
        }
    from rewards.models import Level, MemberLevel

    level = Level.objects.filter(name=criteria.get("level_name")).first()
    if level is None:
        return {}
    holders = MemberLevel.objects.filter(member_id__in=member_ids, level__threshold__gte=level.threshold)
    return {member_id: {"level": name} for member_id, name in holders.values_list("member_id", "level__name")}


def _met_rank(criteria: dict[str, Any], member_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = (
        LeaderboardSnapshotRow.objects.filter(
            member_id__in=member_ids,
            rank__lte=criteria["top_n"],
            snapshot__period_kind=criteria["period_kind"],
            snapshot__segment=criteria.get("segment", ""),
        )
        .order_by("member_id", "rank", "snapshot__ends_at")
        .values_list("member_id", "rank", "snapshot__period_kind", "snapshot__period_key")
    )
    met: dict[int, dict[str, Any]] = {}
    for member_id, rank, kind, key in rows:
        met.setdefault(member_id, {"rank": rank, "period_kind": kind, "period_key": key})
    return met


CHECKS = {
    CriteriaType.VERB_COUNT: _met_verb_count,
    CriteriaType.STREAK: _met_streak,
    CriteriaType.LEVEL_REACHED: _met_level,
    CriteriaType.LEADERBOARD_RANK: _met_rank,
}


# --- awarding ----------------------------------------------------------------------------------------------


def _award(*, badge: Badge, member: Member, evidence: dict[str, Any], actor: Any | None = None) -> BadgeAward | None:
    """Create the award (None if the member already holds the badge), audit it, tell the member, record it."""
    try:
        with transaction.atomic():
            award = BadgeAward.objects.create(
                badge=badge,
                member=member,
                evidence=evidence,
                actor=actor if getattr(actor, "is_authenticated", False) else None,
            )
    except IntegrityError:
        return None
    audit_record(
        actor=actor,
        action="badge.grant" if actor is not None else "badge.award",
        obj=award,
        after=model_snapshot(award),
    )
    record_activity(
        member=member,
        verb=BADGE_EARNED_VERB,
        target=award,
        data={"badge": badge.slug, "tier": badge.tier, "title": badge.is_title},
        dedupe_key=f"badge_earned:{award.assertion_uuid}",
    )
    _notify_awarded(award, member)
    _publish_awarded(award, granted_by_operator=actor is not None)
    return award


def _evaluate(badges: Iterable[Badge], member_ids: Sequence[int]) -> list[BadgeAward]:
    badges = [badge for badge in badges if badge.criteria_type in CHECKS]
    if not badges or not member_ids:
        return []
    awarded: list[BadgeAward] = []
    for start in range(0, len(member_ids), EVALUATION_CHUNK):
        chunk = list(member_ids[start : start + EVALUATION_CHUNK])
        # Any award, revoked ones included: a revoked badge is not earned again automatically.
        held = set(
            BadgeAward.objects.filter(badge__in=badges, member_id__in=chunk).values_list("member_id", "badge_id")
        )
        earned: list[tuple[Badge, int, dict[str, Any]]] = []
        for badge in badges:
            candidates = [member_id for member_id in chunk if (member_id, badge.pk) not in held]
            if not candidates:
                continue
            met = CHECKS[CriteriaType(badge.criteria_type)](badge.criteria, candidates)
            earned += [(badge, member_id, evidence) for member_id, evidence in sorted(met.items())]
        if not earned:
            continue
        members = Member.objects.select_related("user").in_bulk(sorted({member_id for _b, member_id, _e in earned}))
        if len(earned) <= AWARD_INLINE_MAX:
            for badge, member_id, evidence in earned:
                award = _award(badge=badge, member=members[member_id], evidence=evidence)
                if award is not None:
                    awarded.append(award)
        else:
            awarded += _award_many(earned, members)
    return awarded


def _award_many(earned: list[tuple[Badge, int, dict[str, Any]]], members: dict[int, Member]) -> list[BadgeAward]:
    """Many automatic awards at once (a bulk award that lifts hundreds over a threshold): a few INSERTs, the
    stream in one go, and the messages written by a worker after commit."""
    now = timezone.now()
    rows = [
        BadgeAward(badge=badge, member_id=member_id, evidence=evidence, awarded_at=now)
        for badge, member_id, evidence in earned
    ]
    try:
        with transaction.atomic():
            created = BadgeAward.objects.bulk_create(rows)
    except IntegrityError:  # someone else awarded one of them meanwhile: fall back to one at a time
        return [
            award
            for badge, member_id, evidence in earned
            if (award := _award(badge=badge, member=members[member_id], evidence=evidence)) is not None
        ]
    audit_record_bulk(
        entries=[{"action": "badge.award", "obj": award, "after": model_snapshot(award)} for award in created]
    )
    activities_record_bulk(
        entries=[
            ActivityInput(
                member=members[award.member_id],
                verb=BADGE_EARNED_VERB,
                occurred_at=award.awarded_at,
                target=award,
                data={"badge": award.badge.slug, "tier": award.badge.tier, "title": award.badge.is_title},
                dedupe_key=f"badge_earned:{award.assertion_uuid}",
            )
            for award in created
        ]
    )
    for award in created:
        _publish_awarded(award, granted_by_operator=False)
    award_ids = [award.pk for award in created]
    from rewards.tasks.badges import badges_notify_awarded_task

    def enqueue() -> None:
        for start in range(0, len(award_ids), AWARD_TASK_CHUNK):
            badges_notify_awarded_task.delay(award_ids[start : start + AWARD_TASK_CHUNK])

    transaction.on_commit(enqueue, robust=True)
    return created


def _notify_awarded(award: BadgeAward, member: Member) -> None:
    badge = award.badge
    notify(
        member=member,
        kind=BADGE_AWARDED.key,
        url=reverse("rewards:badge_detail", args=[badge.slug]),
        context={
            "name": member.display_name,
            "badge_name": badge.name,
            "badge_slug": badge.slug,
            "tier": badge.get_tier_display(),
            "is_title": badge.is_title,
            "criteria": badge.criteria_explained(),
            "award_id": award.pk,
        },
    )


def badges_notify_awarded(*, award_ids: Sequence[int]) -> int:
    """Send the messages of awards made in bulk. Idempotent: an award already told, or revoked since, is
    skipped. Returns how many were sent."""
    awards = list(
        BadgeAward.objects.filter(pk__in=list(award_ids), revoked_at__isnull=True).select_related(
            "badge", "member__user"
        )
    )
    if not awards:
        return 0
    told = {
        context.get("award_id")
        for _member_id, context in notification_contexts_of_kind(
            member_ids=sorted({award.member_id for award in awards}), kind=BADGE_AWARDED.key
        )
    }
    sent = 0
    with transaction.atomic():
        for award in awards:
            if award.pk not in told:
                _notify_awarded(award, award.member)
                sent += 1
    return sent


def _publish_awarded(award: BadgeAward, *, granted_by_operator: bool) -> None:
    badge = award.badge
    domain_events.publish(
        "badge.awarded",
        {
            "award_id": award.pk,
            "member_id": award.member_id,
            "badge": badge.slug,
            "badge_name": str(badge.name),
            "tier": badge.tier,
            "granted_by_operator": granted_by_operator,
        },
    )


def badges_evaluate(*, member_ids: Sequence[int], trigger: str) -> list[BadgeAward]:
    """Award any badge whose criteria these members now meet.

    `trigger` says what changed, so only the criteria it can affect are checked: "points" (level reached),
    "activity" (counts and streaks), "leaderboard" (ranks on frozen snapshots) or "schedule" (everything).
    """
    if trigger not in TRIGGER_TYPES:
        raise ValueError(f"Unknown badge trigger {trigger!r}; use one of {sorted(TRIGGER_TYPES)}.")
    ids = sorted(set(member_ids))
    if not ids:
        return []
    wanted = {str(kind) for kind in TRIGGER_TYPES[trigger]}
    return _evaluate([badge for badge in active_badges() if badge.criteria_type in wanted], ids)


def badges_evaluate_for_activities(activities: Sequence[Activity]) -> list[BadgeAward]:
    """Activity hook: check the count and streak badges whose verb was just recorded, for those members."""
    if not activities:
        return []
    verbs = {activity.verb for activity in activities}
    relevant = [
        badge
        for badge in active_badges()
        if badge.criteria_type in (CriteriaType.VERB_COUNT, CriteriaType.STREAK)
        and (badge.criteria.get("verb") or STREAK_VERB) in verbs
    ]
    if not relevant:
        return []
    member_ids = sorted({activity.member_id for activity in activities})
    return _evaluate(relevant, member_ids)


def badges_evaluate_after_freeze(*, snapshots: Sequence[LeaderboardSnapshot]) -> list[BadgeAward]:
    """Award rank badges to the members a newly frozen period ranked high enough."""
    if not snapshots:
        return []
    badges = [
        badge
        for badge in active_badges()
        if badge.criteria_type == CriteriaType.LEADERBOARD_RANK
        and badge.criteria.get("period_kind") == snapshots[0].period_kind
    ]
    if not badges:
        return []
    deepest = max(badge.criteria["top_n"] for badge in badges)
    member_ids = sorted(
        set(
            LeaderboardSnapshotRow.objects.filter(snapshot__in=snapshots, rank__lte=deepest).values_list(
                "member_id", flat=True
            )
        )
    )
    return _evaluate(badges, member_ids)


def badges_evaluate_all(*, batch_size: int = 2000) -> int:
    """The scheduled pass: every automatic badge for every member, in batches. Returns how many were awarded."""
    awarded = 0
    last_id = 0
    while True:
        ids = list(Member.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return awarded
        with transaction.atomic():
            awarded += len(badges_evaluate(member_ids=ids, trigger="schedule"))
        last_id = ids[-1]


# --- operators ---------------------------------------------------------------------------------------------


def _clean_reason(reason: str | None, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ServiceError(_("Give a reason."), field="reason")
    if len(reason) > 200:
        raise ServiceError(_("Keep the reason to 200 characters."), field="reason")
    return reason


def badge_grant(*, badge: Badge, member: Member, actor: Any, reason: str = "") -> BadgeAward:
    """An operator gives a member a badge (any badge; manual ones such as 超级用户 only this way)."""
    reason = _clean_reason(reason, required=False)
    if not badge.is_active:
        raise ServiceError(_("This badge is not active."), field="badge", code="inactive")
    if getattr(actor, "pk", None) is not None and actor.pk == member.user_id:
        raise ServiceError(_("You cannot grant a badge to yourself."), field="member", code="self_grant")
    with transaction.atomic():
        award = _award(
            badge=badge,
            member=member,
            actor=actor,
            evidence={"granted": True, **({"reason": reason} if reason else {})},
        )
    if award is None:
        raise ServiceError(_("This member already holds the badge."), field="member", code="already_awarded")
    return award


def badge_revoke(*, award: BadgeAward, actor: Any, reason: str) -> BadgeAward:
    """Take a badge back. The award stays on record; its public assertion then answers "revoked"."""
    reason = _clean_reason(reason, required=True)
    with transaction.atomic():
        award = BadgeAward.objects.select_for_update().get(pk=award.pk)
        if award.revoked_at is not None:
            raise ServiceError(_("This badge was already revoked."), code="already_revoked")
        before = model_snapshot(award)
        award.revoked_at = timezone.now()
        award.revoked_reason = reason
        award.revoked_by = actor if getattr(actor, "is_authenticated", False) else None
        award.save(update_fields=["revoked_at", "revoked_reason", "revoked_by"])
        audit_record(actor=actor, action="badge.revoke", obj=award, before=before, after=model_snapshot(award))
    return award
