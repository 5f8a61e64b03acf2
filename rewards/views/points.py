"""Portal pages: my points (balances, level progress, streak, check-in, history) and the levels."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from members.services import member_ensure
from rewards.selectors import points as selectors
from rewards.services.checkin import checkin_perform

HISTORY_PAGE_SIZE = 20


@login_required
def points(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    ladder = selectors.level_list()
    summary = selectors.points_summary_for_member(member=member, ladder=ladder)
    page = Paginator(selectors.member_entry_page(member=member), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    rules = list(selectors.rules_for_display())
    context = {
        "summary": summary,
        "page": page,
        "earning_rules": [rule for rule in rules if rule.points > 0],
        "costing_rules": [rule for rule in rules if rule.points < 0],
    }
    return render(request, "rewards/points/index.html", context)


@login_required
@require_POST
def points_checkin(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    result = checkin_perform(member=member)
    if result.already_checked_in:
        messages.info(request, _("You have already checked in today. Come back tomorrow to keep your streak going."))
    else:
        streak = ngettext("Your streak: %(days)d day.", "Your streak: %(days)d days.", result.current_streak) % {
            "days": result.current_streak
        }
        messages.success(
            request,
            ngettext("Checked in: +%(points)d point.", "Checked in: +%(points)d points.", result.points)
            % {"points": result.points}
            + " "
            + streak,
        )
    return redirect("rewards:points")


@login_required
def levels(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    ladder = selectors.level_list()
    summary = selectors.points_summary_for_member(member=member, ladder=ladder)
    return render(request, "rewards/points/levels.html", {"levels": ladder, "summary": summary})


urlpatterns = [
    path("points/", points, name="points"),
    path("points/check-in/", points_checkin, name="points_checkin"),
    path("levels/", levels, name="levels"),
]
