"""The operator inbox: today's follow-up tasks from every job, worked in place (assign, snooze, done)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from community import roles
from community.errors import ServiceError
from community.models import FollowUpTask
from engage import selectors
from engage.services import inbox as inbox_services

STATUSES = ("due", "open", "snoozed", "done")
SNOOZE_DAYS = (1, 3, 7)


class DoneForm(forms.Form):
    outcome = forms.CharField(label=gettext_lazy("Outcome"), max_length=5000)


def _operator_only(request: HttpRequest) -> None:
    if not roles.is_operator(request.user):
        raise Http404


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    _operator_only(request)
    status = request.GET.get("status", "due")
    status = status if status in STATUSES else "due"
    mine = request.GET.get("mine") == "1"
    tasks = selectors.inbox_tasks(status=status, assignee=request.user if mine else None)
    page = Paginator(tasks, 25).get_page(request.GET.get("page"))
    operators = get_user_model().objects.filter(groups__name=roles.OPERATOR, is_active=True).order_by("email")
    context = {
        "page": page,
        "status": status,
        "mine": mine,
        "statuses": STATUSES,
        "operators": list(operators),
        "snooze_days": SNOOZE_DAYS,
    }
    return render(request, "engage/inbox/list.html", context)


@login_required
@require_POST
def task_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    _operator_only(request)
    task = get_object_or_404(FollowUpTask, pk=pk)
    try:
        if action == "assign":
            assignee = None
            if request.POST.get("assignee"):
                assignee = get_object_or_404(get_user_model(), pk=request.POST["assignee"], is_staff=True)
            inbox_services.task_assign(task=task, assignee=assignee, actor=request.user)
        elif action == "snooze":
            days = int(request.POST.get("days", "1"))
            if days not in SNOOZE_DAYS:
                raise ServiceError(_("Choose how long to snooze."), field="days")
            inbox_services.task_snooze(task=task, until=timezone.now() + timedelta(days=days), actor=request.user)
        elif action == "done":
            form = DoneForm(request.POST)
            if not form.is_valid():
                raise ServiceError(_("Say what came of it."), field="outcome")
            inbox_services.task_complete(task=task, outcome=form.cleaned_data["outcome"], actor=request.user)
        elif action == "reopen":
            inbox_services.task_reopen(task=task, actor=request.user)
        else:
            raise Http404
    except (ServiceError, ValueError) as error:
        messages.error(request, getattr(error, "message", _("Choose how long to snooze.")))
    else:
        messages.success(request, _("The task is updated."))
    return redirect(
        request.POST.get("next") if str(request.POST.get("next", "")).startswith("/inbox/") else "engage:inbox"
    )
