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

from django.core.cache import cache
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
from community.services import audit_record, model_snapshot, notify, record_activity
from members.models import Member
from rewards.models import Badge, BadgeAward, LeaderboardSnapshot, LeaderboardSnapshotRow, PointBalance
from rewards.models.badges import ACTIVE_BADGES_CACHE_KEY, STREAK_VERB, CriteriaType

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
ACTIVE_BADGES_CACHE_SECONDS = 300


def active_badges() -> list[Badge]:
    """The active badges, cached: they are read after every award and every recorded activity. Saving or
    deleting a badge forgets the cache (see Badge.save)."""
    badges = cache.get(ACTIVE_BADGES_CACHE_KEY)
    if badges is None:
        badges = list(Badge.objects.filter(is_active=True).order_by("pk"))
        cache.set(ACTIVE_BADGES_CACHE_KEY, badges, ACTIVE_BADGES_CACHE_SECONDS)
    return badges


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
        },
    )
    domain_events.publish(
        "badge.awarded",
        {
            "award_id": award.pk,
            "member_id": member.pk,
            "badge": badge.slug,
            "badge_name": str(badge.name),
            "tier": badge.tier,
            "granted_by_operator": actor is not None,
        },
    )
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
        members: dict[int, Member] = {}
        for badge in badges:
            candidates = [member_id for member_id in chunk if (member_id, badge.pk) not in held]
            if not candidates:
                continue
            met = CHECKS[CriteriaType(badge.criteria_type)](badge.criteria, candidates)
            if not met:
                continue
            missing = [member_id for member_id in met if member_id not in members]
            if missing:
                members.update(Member.objects.select_related("user").in_bulk(missing))
            for member_id, evidence in sorted(met.items()):
                award = _award(badge=badge, member=members[member_id], evidence=evidence)
                if award is not None:
                    awarded.append(award)
    return awarded


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
