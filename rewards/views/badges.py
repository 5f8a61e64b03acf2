"""Portal pages: every badge (earned or not), a badge's page with its holders, my badges; and the public
Open Badges documents under badges/ob/."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import include, path

from community import roles
from members.services import member_ensure
from rewards import openbadges, openbadges_urls
from rewards.models import Badge
from rewards.selectors import badges as selectors

HOLDERS_PAGE_SIZE = 48


@login_required
def badge_list(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    items = selectors.badges_with_status(member=member)
    context = {
        "items": items,
        "earned_count": sum(item.earned for item in items),
        "titles": [item for item in items if item.badge.is_title],
        "badges": [item for item in items if not item.badge.is_title],
    }
    return render(request, "rewards/badges/list.html", context)


@login_required
def badge_detail(request: HttpRequest, slug: str) -> HttpResponse:
    member = member_ensure(user=request.user)
    badges = Badge.objects.all() if roles.is_operator(request.user) else Badge.objects.filter(is_active=True)
    badge = get_object_or_404(badges, slug=slug)
    holders = Paginator(selectors.badge_holders(badge=badge), HOLDERS_PAGE_SIZE).get_page(request.GET.get("page"))
    award = selectors.held_awards(member=member, badge_ids=[badge.pk]).get(badge.pk)
    context = {
        "badge": badge,
        "page": holders,
        "award": award,
        "assertion_url": openbadges.assertion_id(award) if award is not None else "",
        "badge_class_url": openbadges.badge_class_id(badge),
    }
    return render(request, "rewards/badges/detail.html", context)


@login_required
def my_badges(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    awards = list(selectors.member_awards(member=member, include_revoked=True))
    rows = [(award, openbadges.assertion_id(award)) for award in awards]
    return render(request, "rewards/badges/mine.html", {"rows": rows, "held": sum(not a.is_revoked for a in awards)})


urlpatterns = [
    path("badges/", badge_list, name="badges"),
    path("badges/mine/", my_badges, name="my_badges"),
    # Public, unauthenticated and stable: the ids inside every shared Open Badges assertion.
    path("badges/ob/", include(openbadges_urls)),
    path("badges/<slug:slug>/", badge_detail, name="badge_detail"),
]
