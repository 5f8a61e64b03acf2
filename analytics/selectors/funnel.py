"""The recruitment-to-loyalty funnel: applied → screened → accepted → joined → active after 30 days → loyal."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from analytics.models import MemberDay
from analytics.selectors.cache import rollup_cached
from analytics.selectors.scope import Period, Scope, external
from analytics.services.rollups import day_bounds
from members.models import Member

ACTIVE_AFTER_FROM, ACTIVE_AFTER_TO = 30, 59

STEPS = (
    ("applied", _("Applied")),
    ("screened", _("Screened")),
    ("accepted", _("Accepted")),
    ("joined", _("Joined")),
    ("active_30d", _("Active after 30 days")),
    ("loyal", _("Loyal")),
)


@rollup_cached
def funnel(*, period: Period, scope: Scope | None = None) -> list[dict[str, Any]]:
    """Funnel steps for the period, each with its count and its conversion from the step before (percent).

    - applied / screened / accepted: the members app's `application_funnel` for applications in the period (None
      while that app does not provide it);
    - joined: members whose `joined_at` falls in the period;
    - active after 30 days: of those, members active on at least one of days 30 … 59 after their join day;
    - loyal: of those who joined, members whose segment is loyal now.
    """
    scope = scope or Scope()
    start_at, end_at = day_bounds(period.start)[0], day_bounds(period.end)[1]
    joined = scope.member_queryset().filter(joined_at__gte=start_at, joined_at__lt=end_at)
    counts: dict[str, int | None] = {"applied": None, "screened": None, "accepted": None}
    application_funnel = external("members.selectors", "application_funnel")
    if application_funnel is not None:
        member_ids = scope.member_id_list() if scope.by_members or scope.segment else None
        data = application_funnel(start=start_at, end=end_at, round_id=scope.round_id, member_ids=member_ids)
        counts.update({key: data.get(key) for key in ("applied", "screened", "accepted")})
    row = joined.aggregate(
        joined=_count(),
        loyal=_count(Q(segment=Member.Segment.LOYAL)),
    )
    counts["joined"] = row["joined"]
    counts["loyal"] = row["loyal"]
    # The member-day rollup carries the join day, so "joined in the period" needs no join with the members.
    later = MemberDay.objects.filter(
        joined_on__gte=period.start,
        joined_on__lte=period.end,
        days_since_join__gte=ACTIVE_AFTER_FROM,
        days_since_join__lte=ACTIVE_AFTER_TO,
    )
    if scope.segment or scope.by_members:
        later = later.filter(member_id__in=scope.member_queryset().values("pk"))
    # One sorted distinct count: a grouped subquery lets the planner pick a parallel hash aggregate, which spills
    # and crawls at millions of member-days.
    counts["active_30d"] = later.aggregate(n=Count("member_id", distinct=True))["n"]
    steps = []
    previous: int | None = None
    for key, label in STEPS:
        count = counts[key]
        # A step larger than the one before (members who joined without an application) has no conversion.
        usable = count is not None and previous and count <= previous
        conversion = round(100 * count / previous, 1) if usable else None
        steps.append({"key": key, "label": str(label), "count": count, "conversion": conversion})
        if count is not None:
            previous = count
    return steps


def _count(condition: Q | None = None):
    return Count("pk", filter=condition)
