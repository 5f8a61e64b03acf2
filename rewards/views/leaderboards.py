"""Portal pages: the live leaderboards (all-time, month, week, day; per segment) and past, frozen periods."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils.translation import gettext_lazy as _

from community.errors import ServiceError
from members.services import member_ensure
from rewards.models import LeaderboardSnapshot
from rewards.selectors import badges as badge_selectors
from rewards.selectors import leaderboards as selectors

TOP = 100
PAST_TOP = 10
TABS = (("all", _("All time")), ("month", _("This month")), ("week", _("This week")), ("day", _("Today")))
DEFAULT_PERIOD = "week"


def _segment(request: HttpRequest, names: list[str]) -> str:
    segment = request.GET.get("segment", "")
    return segment if segment in names else ""


@login_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    period_kind = request.GET.get("period", DEFAULT_PERIOD)
    if period_kind not in dict(TABS):
        period_kind = DEFAULT_PERIOD
    segments = selectors.segment_names()
    segment = _segment(request, segments)
    board, me = selectors.leaderboard_with_standing(member=member, period_kind=period_kind, segment=segment, limit=TOP)
    past = selectors.leaderboard_latest_snapshots(segment=segment)
    past_rows = selectors.snapshot_top_rows(snapshots=past, top=PAST_TOP)
    titles = badge_selectors.member_titles(member_ids=[row.member_id for row in board.rows])
    context = {
        "board": board,
        "rows": [(row, titles.get(row.member_id, [])) for row in board.rows],
        "me": me,
        "me_in_top": any(row.member_id == member.pk for row in board.rows),
        "member": member,
        "tabs": TABS,
        "period_kind": period_kind,
        "segments": segments,
        "segment": segment,
        "past": [(snapshot, past_rows[snapshot.pk]) for snapshot in past],
    }
    return render(request, "rewards/leaderboards/index.html", context)


@login_required
def leaderboard_snapshot(request: HttpRequest, period_kind: str, period_key: str) -> HttpResponse:
    member = member_ensure(user=request.user)
    segments = selectors.segment_names()
    segment = _segment(request, segments)
    try:
        selectors.leaderboard_period(period_kind, period_key)
    except ServiceError:
        raise Http404 from None
    snapshot = get_object_or_404(LeaderboardSnapshot, period_kind=period_kind, period_key=period_key, segment=segment)
    rows = list(snapshot.rows.select_related("member").order_by("rank", "-member_id")[:TOP])
    mine = snapshot.rows.filter(member=member).first()
    context = {
        "snapshot": snapshot,
        "rows": rows,
        "mine": mine,
        "mine_in_top": any(row.member_id == member.pk for row in rows),
        "member": member,
        "segment": segment,
        "earlier": selectors.leaderboard_snapshots(period_kind=period_kind, segment=segment).exclude(pk=snapshot.pk)[
            :12
        ],
    }
    return render(request, "rewards/leaderboards/snapshot.html", context)


urlpatterns = [
    path("leaderboards/", leaderboard, name="leaderboards"),
    path("leaderboards/past/<str:period_kind>/<str:period_key>/", leaderboard_snapshot, name="leaderboard_snapshot"),
]
