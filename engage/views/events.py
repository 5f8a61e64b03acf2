"""Event pages: the list, one event (register, cancel, the check-in code and its QR), calendars, door check-in."""

from __future__ import annotations

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from community import roles
from community.errors import ServiceError
from engage import ics, selectors
from engage.models import Event, LotteryDraw
from engage.services import events as event_services
from members.services import member_ensure


@login_required
def event_list(request: HttpRequest) -> HttpResponse:
    member = member_ensure(user=request.user)
    events = list(selectors.event_list_for_member(member=member, upcoming_only=True))
    rows = [{"event": event, "mine": selectors.my_registration(event)} for event in events]
    mine = [row for row in rows if row["mine"] is not None and row["mine"].status != "cancelled"]
    return render(request, "engage/events/list.html", {"rows": rows, "mine": mine})


def _qr_svg(data: str) -> str:
    # Generated here, inline: no image request, no third party sees the code.
    return segno.make(data, error="m").svg_inline(scale=5, title=_("Check-in QR code"))


@login_required
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    event = get_object_or_404(selectors.event_list_for_member(member=member), pk=pk)
    mine = selectors.my_registration(event)
    qr = None
    if mine is not None and mine.status == "registered":
        qr = mark_safe(_qr_svg(f"{settings.SITE_URL}/events/{event.pk}/check-in/?code={mine.check_in_code}"))
    draw = LotteryDraw.objects.filter(event=event).first()
    context = {
        "event": event,
        "mine": mine,
        "qr": qr,
        "draw": draw,
        "draw_ok": event_services.lottery_verify(draw=draw) if draw else None,
        "ineligible": event_services.event_eligibility_error(event=event, member=member),
        "is_operator": roles.is_operator(request.user),
    }
    return render(request, "engage/events/detail.html", context)


@login_required
@require_POST
def event_register(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    event = get_object_or_404(selectors.event_list_for_member(member=None), pk=pk)
    try:
        registration = event_services.event_register(member=member, event=event)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        if registration.status == "registered":
            messages.success(
                request, _("You are registered. Your check-in code is %(code)s.") % {"code": registration.check_in_code}
            )
        else:
            messages.info(request, _("The event is full: you are on the waitlist."))
    return redirect("engage:event_detail", pk=pk)


@login_required
@require_POST
def event_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_ensure(user=request.user)
    event = get_object_or_404(selectors.event_list_for_member(member=member), pk=pk)
    mine = selectors.my_registration(event)
    if mine is None:
        return redirect("engage:event_detail", pk=pk)
    try:
        event_services.event_registration_cancel(registration=mine, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your registration is cancelled."))
    return redirect("engage:event_detail", pk=pk)


def event_ics(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(selectors.event_list_for_member(member=None), pk=pk)
    response = HttpResponse(ics.calendar([event], name=event.title), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="event-{event.pk}.ics"'
    return response


def calendar_feed(request: HttpRequest) -> HttpResponse:
    events = Event.objects.filter(status__in=[Event.Status.PUBLISHED, Event.Status.CANCELLED]).order_by("starts_at")
    return HttpResponse(ics.calendar(events, name=_("Community events")), content_type="text/calendar; charset=utf-8")


class CheckInForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Check-in code"), max_length=12)


@login_required
def event_check_in(request: HttpRequest, pk: int) -> HttpResponse:
    """The door: an operator types (or scans) a member's code. Other personas get a 404."""
    if not roles.is_operator(request.user):
        raise Http404
    event = get_object_or_404(Event, pk=pk)
    form = CheckInForm(request.POST or None, initial={"code": request.GET.get("code", "")})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                registration = event_services.event_check_in(
                    event=event, code=form.cleaned_data["code"], actor=request.user
                )
            except ServiceError as error:
                form.add_error("code", error.message)
                status = 400
            else:
                messages.success(request, _("%(name)s is checked in.") % {"name": registration.member.display_name})
                return redirect("engage:event_check_in", pk=pk)
        else:
            status = 400
    registrations = selectors.event_registrations(event=event)
    return render(
        request,
        "engage/events/check_in.html",
        {"event": event, "form": form, "registrations": registrations},
        status=status,
    )
