"""Reads shared by the whole community that are more than a lookup."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from community import notification_kinds
from community.models import Activity, ApiToken, FollowUpTask, Notification, NotificationPreference
from members.models import Member


def notification_list_for_member(*, member: Member) -> QuerySet[Notification]:
    return Notification.objects.filter(member=member, show_in_portal=True).order_by("-created_at", "-id")


def notification_unread_count(*, member: Member) -> int:
    return Notification.objects.filter(member=member, show_in_portal=True, read_at__isnull=True).count()


def notification_contexts_of_kind(*, member_ids: list[int], kind: str) -> list[tuple[int, dict[str, Any]]]:
    """(member id, stored context) of every notification of this kind the members were sent: lets a job that
    sends them check what it already sent."""
    rows = Notification.objects.filter(member_id__in=member_ids, kind=kind).order_by()
    return [(member_id, context or {}) for member_id, context in rows.values_list("member_id", "context")]


def notification_ids_pending_email(*, limit: int = 500) -> list[int]:
    return list(
        Notification.objects.filter(
            email_status=Notification.EmailStatus.PENDING,
            email_attempts__lt=settings.HEARTH_NOTIFICATION_EMAIL_MAX_ATTEMPTS,
            created_at__lte=timezone.now() - timedelta(minutes=1),
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def notification_preferences_for_member(*, member: Member) -> list[dict[str, Any]]:
    """Every registered kind with the member's effective channels (their choice, else the kind's default)."""
    chosen = {p.kind: p for p in NotificationPreference.objects.filter(member=member)}
    rows = []
    for kind in notification_kinds.KINDS.values():
        preference = chosen.get(kind.key)
        rows.append(
            {
                "kind": kind.key,
                "label": str(kind.label),
                "in_portal": preference.in_portal if preference else kind.in_portal_default,
                "email": preference.email if preference else kind.email_default,
            }
        )
    return rows


def activity_list(*, member: Member | None = None) -> QuerySet[Activity]:
    activities = Activity.objects.select_related("member")
    if member is not None:
        activities = activities.filter(member=member)
    return activities.order_by("-occurred_at", "-id")


def member_activity_summary(*, member: Member, days: int = 30, today: date | None = None) -> dict[str, Any]:
    """What the member did in the last `days` local days: active days, actions, and a count per verb."""
    today = today or timezone.localdate(timezone=member_zone(member))
    since = today - timedelta(days=days - 1)
    window = Activity.objects.filter(member=member, local_date__gte=since, local_date__lte=today)
    per_verb = list(window.values("verb").annotate(count=Count("id")).order_by("-count", "verb"))
    return {
        "days": days,
        "active_days": window.values("local_date").distinct().count(),
        "actions": sum(row["count"] for row in per_verb),
        "per_verb": per_verb,
    }


def member_last_active_day(*, member_ref: str = "pk", through: date | None = None) -> Subquery:
    """An expression for annotating members: their last local day with an activity (on or before `through`), read
    from the stream's (member, day) index. `member_ref` names the member's primary key in the outer query."""
    days = Activity.objects.filter(member=OuterRef(member_ref))
    if through is not None:
        days = days.filter(local_date__lte=through)
    return Subquery(days.order_by("-local_date").values("local_date")[:1])


def member_zone(member: Member):
    from zoneinfo import ZoneInfo

    return ZoneInfo(member.time_zone)


def api_tokens_for_user(*, user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def operator_dashboard(*, today: date | None = None) -> dict[str, Any]:
    """Headline figures for the admin landing page, read from the analytics rollups (never the raw stream).

    "Today" is as far as the rollups go (they are refreshed every 15 minutes); the analytics KPIs of the last 30
    days come with their targets. A constant number of queries whatever the number of members or days.
    """
    from analytics.models import DaySegment
    from analytics.selectors.dashboard import default_period, headline
    from analytics.selectors.kpis import top_verbs
    from analytics.selectors.scope import Period
    from analytics.selectors.series import daily_series, rollups_through
    from analytics.services.rollups import program_today

    through = rollups_through()
    today = today or program_today()
    week = Period(today - timedelta(days=6), today)
    rows = {row["day"]: row for row in daily_series(period=week)}
    last = rows[today]
    period = default_period(through=min(through, today) if through else today)
    return {
        "through": through,
        "members_total": last["members"],
        "members_new_7d": sum(row["new_members"] for row in rows.values()),
        "active_today": last["dau"],
        "active_7d": last["wau"],
        "active_30d": last["mau"],
        "actions_7d": sum(row["actions"] for row in rows.values()),
        "top_verbs_7d": top_verbs(period=week),
        "emails_failed": Notification.objects.filter(email_status=Notification.EmailStatus.FAILED).count(),
        # Overdue feedback and unanswered questions reach operators as follow-up tasks (the SLA job files them).
        **FollowUpTask.objects.exclude(status=FollowUpTask.Status.DONE).aggregate(
            follow_ups_open=Count("pk"),
            feedback_overdue=Count("pk", filter=Q(kind__in=("feedback_overdue", "question_unanswered"))),
        ),
        "period": period,
        "kpis": headline(period=period),
        "has_rollups": DaySegment.objects.exists() if through is None else True,
    }
