"""Portal: reporting feedback, a reply or a member to the moderators."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community import roles
from community.errors import ServiceError
from feedback import selectors
from feedback import services as feedback_services
from feedback.models import Reply, Report
from feedback.models.moderation import NOTE_MAX_LENGTH
from members.models import Member
from members.services import member_ensure


class ReportForm(forms.Form):
    reason = forms.ChoiceField(label=gettext_lazy("Why"), choices=Report.Reason.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        label=gettext_lazy("Note for the moderators"),
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _target(request: HttpRequest, kind: str, pk: int):
    member = member_ensure(user=request.user)
    visible = selectors.items_visible_to(member=member, is_operator=roles.is_operator(request.user))
    if kind == "feedback":
        target = visible.filter(pk=pk).first()
        back = ("feedback:detail", pk)
    elif kind == "reply":
        target = Reply.objects.filter(pk=pk, item__in=visible).select_related("item").first()
        back = ("feedback:detail", target.item_id) if target else None
    elif kind == "member":
        target = Member.objects.filter(pk=pk).first()
        back = ("feedback:list",)
    else:
        target, back = None, None
    if target is None:
        raise Http404
    return member, target, back


@login_required
def report_create(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    member, target, back = _target(request, kind, pk)
    status = 200
    if request.method == "POST":
        form = ReportForm(request.POST)
        if form.is_valid():
            try:
                feedback_services.report_file(
                    reporter=member, target=target, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"]
                )
            except ServiceError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, _("Thank you. The moderators will look at your report."))
                return redirect(*back)
        status = 400
    else:
        form = ReportForm()
    return render(request, "feedback/report.html", {"form": form, "target": target, "kind": kind}, status=status)


urlpatterns = [path("report/<str:kind>/<int:pk>/", report_create, name="report")]
