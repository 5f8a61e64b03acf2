"""Reads of the members app: member lists, rounds, the review queue, funnels and segment counts.

The funnel, round-membership and segment-count functions are contracts other apps (analytics, engage) rely on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from community.models import Activity
from members.models import Application, Member, Round

# Best score first; applications not scored yet (no scorecard) go last, not first as PostgreSQL's DESC would put them.
BEST_FIRST = F("scorecard__total").desc(nulls_last=True)


def member_list() -> QuerySet[Member]:
    return Member.objects.select_related("user").prefetch_related("tags").order_by("display_name", "id")


# --- contracts for other apps ------------------------------------------------------------------------------


def application_funnel(
    *,
    start: datetime,
    end: datetime,
    round_id: int | None = None,
    member_ids: Collection[int] | None = None,
) -> dict[str, int]:
    """Applications submitted in [start, end) that reached at least each stage (applied ≥ screened ≥ …)."""
    applications = Application.objects.filter(submitted_at__gte=start, submitted_at__lt=end)
    if round_id is not None:
        applications = applications.filter(round_id=round_id)
    if member_ids is not None:
        applications = applications.filter(member_id__in=list(member_ids))
    S = Application.Stage
    return applications.aggregate(
        applied=Count("id"),
        screened=Count("id", filter=Q(stage__gte=S.SCREENED)),
        interviewed=Count("id", filter=Q(stage__gte=S.INTERVIEWED)),
        accepted=Count("id", filter=Q(stage__gte=S.ACCEPTED)),
    )


def round_member_ids(*, round_id: int) -> list[int]:
    """Members accepted in the round (also those who left since: a cohort keeps its leavers)."""
    return list(
        Application.objects.filter(round_id=round_id, stage=Application.Stage.ACCEPTED)
        .exclude(status=Application.Status.REJECTED)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()
    )


def rounds_list() -> list[tuple[int, str]]:
    """(id, name) of every round, newest first."""
    return list(Round.objects.order_by("-opens_at", "id").values_list("id", "name"))


def members_segment_counts() -> dict[str, int]:
    """Members in the program (status active) per segment; every segment is present."""
    counts = dict.fromkeys(Member.Segment.values, 0)
    rows = Member.objects.filter(status=Member.Status.ACTIVE).values("segment").annotate(n=Count("id"))
    counts.update({row["segment"]: row["n"] for row in rows})
    return counts


# --- rounds and applications ----------------------------------------------------------------------------------


def rounds_open(*, now: datetime | None = None) -> QuerySet[Round]:
    now = now or timezone.now()
    return Round.objects.filter(opens_at__lte=now, closes_at__gt=now).order_by("closes_at", "id")


def round_with_questions(*, slug: str) -> Round:
    return Round.objects.prefetch_related("questions__choices").get(slug=slug)


def applications_for_member(*, member: Member) -> QuerySet[Application]:
    return (
        Application.objects.filter(member=member)
        .select_related("round")
        .prefetch_related("interviews")
        .order_by("-submitted_at", "-id")
    )


def review_queue() -> QuerySet[Application]:
    """Applications with everything a review row shows, best score first."""
    return Application.objects.select_related("member__user", "round", "scorecard", "usage").order_by(
        BEST_FIRST, "submitted_at", "id"
    )


def round_places(*, round: Round) -> dict[str, Any]:
    accepted = Application.objects.filter(round=round, status=Application.Status.ACCEPTED).count()
    return {"capacity": round.capacity, "accepted": accepted, "free": max(round.capacity - accepted, 0)}


def activity_counts(*, start: datetime, end: datetime) -> dict[int, int]:
    """Activities per member in [start, end): what segmentation classifies on."""
    return dict(
        Activity.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .values("member_id")
        .annotate(n=Count("id"))
        .values_list("member_id", "n")
    )


def member_ids_by_email(*, emails: Iterable[str]) -> dict[str, tuple[int, str]]:
    """(member id, time zone) for each of `emails` that is a member's account e-mail: one indexed query, no model
    instances (feeds name members by e-mail by the thousand)."""
    wanted = list(emails)
    if not wanted:
        return {}
    if connection.vendor == "postgresql":
        # One array parameter: the driver quotes a thousand-item IN list value by value, slower than the query.
        with connection.cursor() as cursor:
            cursor.execute(_IDS_BY_EMAIL, [wanted])
            rows = cursor.fetchall()
    else:
        rows = list(Member.objects.filter(user__email__in=wanted).values_list("user__email", "id", "time_zone"))
    return {email: (member_id, zone) for email, member_id, zone in rows}


_IDS_BY_EMAIL = (
    f"SELECT u.email, m.id, m.time_zone FROM {Member._meta.db_table} AS m "  # noqa: S608
    f"JOIN {Member._meta.get_field('user').related_model._meta.db_table} AS u ON u.id = m.user_id "
    "WHERE u.email = ANY(%s)"
)
