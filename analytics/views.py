"""The operator area's analytics pages: dashboard, cohorts, churn, targets, experiments, CSV exports.

Operators and analysts see them; only operators change targets, rebuild rollups or start experiments. Anyone
else gets 404 (a signed-out visitor is sent to log in). Every page reads rollups through the selectors.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from analytics import charts
from analytics.forms import CohortForm, KpiTargetForm, ScopeForm
from analytics.models import Experiment, KpiTarget
from analytics.selectors import experiments as experiment_selectors
from analytics.selectors.dashboard import segment_breakdown, targets_by_kpi, with_targets
from analytics.selectors.funnel import funnel
from analytics.selectors.kpis import kpis_compute, participation
from analytics.selectors.retention import churn_list, cohort_cell_members, cohort_table
from analytics.selectors.scope import Period
from analytics.selectors.series import daily_series, rollups_through
from analytics.services import targets
from community import roles
from community.errors import ServiceError

VIEWERS = (roles.OPERATOR, roles.ANALYST)


def staff_only(*allowed: str) -> Callable:
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not roles.user_has_role(request.user, *allowed):
                raise Http404
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    # The admin's look without `each_context`, whose full app list (every model's permissions) costs more than
    # the whole dashboard; these pages have their own navigation instead of the sidebar.
    site = admin.site
    return {
        "site_title": site.site_title,
        "site_header": site.site_header,
        "site_url": site.site_url,
        "has_permission": True,
        "is_popup": False,
        "is_nav_sidebar_enabled": False,
        "available_apps": [],
        "can_operate": roles.is_operator(request.user),
        "through": rollups_through(),
        **extra,
    }


def _scope_form(request: HttpRequest) -> ScopeForm:
    form = ScopeForm(request.GET, through=rollups_through())
    form.is_valid()
    if form.errors:  # an unusable filter falls back to the default period for everyone, with the errors shown
        fallback = ScopeForm({}, through=form.through)
        fallback.is_valid()
        fallback._errors.update(form.errors)
        return fallback
    return form


def _csv(filename: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # so spreadsheet programs read the Chinese labels as UTF-8
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _funnel_period(period: Period) -> Period:
    # Members need 30 days before "active after 30 days" can count them: the funnel looks back at least 90 days.
    return Period(min(period.start, period.end - timedelta(days=89)), period.end)


TREND_LINES = (("dau", "DAU"), ("wau", "WAU"), ("mau", "MAU"))


@staff_only(*VIEWERS)
def dashboard(request: HttpRequest) -> HttpResponse:
    form = _scope_form(request)
    period, scope = form.period(), form.scope()
    kpis = with_targets(kpis_compute(period=period, scope=scope), targets_by_kpi())
    series = daily_series(period=period, scope=scope)
    funnel_period = _funnel_period(period)
    steps = funnel(period=funnel_period, scope=scope)
    cohorts = cohort_table(cohorts=8, scope=scope)
    context = _context(
        request,
        title=_("Program analytics"),
        form=form,
        period=period,
        query=request.GET.urlencode(),
        headline=[row for row in kpis if row["kpi"].key in _headline_keys()],
        kpis=kpis,
        series=series,
        trend_chart=charts.line_chart(
            rows=series, lines=[(k, label) for k, label in TREND_LINES], title=_("Active members per day")
        ),
        members_chart=charts.line_chart(
            rows=series, lines=[("members", _("Members")), ("new_members", _("New members"))], title=_("Members")
        ),
        funnel=steps,
        funnel_period=funnel_period,
        funnel_chart=charts.bar_chart(bars=[(s["label"], s["count"]) for s in steps], title=_("Funnel")),
        participation=participation(period=period, scope=scope),
        cohorts=cohorts,
        segments=segment_breakdown(period=period) if not scope.segment and not scope.by_members else None,
    )
    return TemplateResponse(request, "analytics/dashboard.html", context)


def _headline_keys() -> set[str]:
    from analytics.selectors.kpis import HEADLINE_KPIS

    return set(HEADLINE_KPIS)


@staff_only(*VIEWERS)
def export_csv(request: HttpRequest, name: str) -> HttpResponse:
    form = _scope_form(request)
    period, scope = form.period(), form.scope()
    if name == "kpis":
        values = kpis_compute(period=period, scope=scope)
        return _csv(
            "kpis.csv",
            ["kpi", "label", "unit", "value", "previous", "change", "definition"],
            [[v.key, v.label, v.unit, v.value, v.previous, v.change, v.definition] for v in values],
        )
    if name == "series":
        rows = daily_series(period=period, scope=scope)
        fields = ["members", "new_members", "left_members", "dau", "wau", "mau", "actions", "check_ins"]
        return _csv("series.csv", ["day", *fields], [[r["day"].isoformat(), *(r[f] for f in fields)] for r in rows])
    if name == "funnel":
        steps = funnel(period=_funnel_period(period), scope=scope)
        return _csv("funnel.csv", ["step", "label", "count", "conversion_percent"],
                    [[s["key"], s["label"], s["count"], s["conversion"]] for s in steps])  # fmt: skip
    if name == "segments":
        rows = segment_breakdown(period=period)
        keys = [value.key for value in rows[0]["values"]] if rows else []
        return _csv("segments.csv", ["segment", *keys], [[r["segment"], *(v.value for v in r["values"])] for r in rows])
    if name == "participation":
        rows = participation(period=period, scope=scope)
        return _csv("participation.csv", ["verb", "members", "rate_percent"],
                    [[r["verb"], r["members"], r["rate"]] for r in rows])  # fmt: skip
    if name == "cohorts":
        min_days = _min_active_days(request)
        table = cohort_table(scope=scope, min_active_days=min_days)
        header = ["cohort_week", "size", *(f"week_{w}" for w in table["weeks"])]
        rows = [
            [row["cohort_week"].isoformat(), row["size"], *(cell["members"] for cell in row["cells"])]
            for row in table["rows"]
        ]
        return _csv("cohorts.csv", header, rows)
    raise Http404


def _min_active_days(request: HttpRequest) -> int:
    form = CohortForm(request.GET or None)
    if form.is_bound and form.is_valid() and form.cleaned_data["min_active_days"]:
        return form.cleaned_data["min_active_days"]
    return 1


@staff_only(*VIEWERS)
def cohorts(request: HttpRequest) -> HttpResponse:
    form = _scope_form(request)
    min_days = _min_active_days(request)
    table = cohort_table(scope=form.scope(), min_active_days=min_days)
    context = _context(
        request,
        title=_("Weekly cohorts"),
        form=form,
        cohort_form=CohortForm(initial={"min_active_days": min_days}, data={"min_active_days": min_days}),
        cohorts=table,
        query=request.GET.urlencode(),
    )
    return TemplateResponse(request, "analytics/cohorts.html", context)


@staff_only(*VIEWERS)
def cohort_cell(request: HttpRequest, week: str, index: int) -> HttpResponse:
    try:
        cohort_week = date.fromisoformat(week)
    except ValueError:
        raise Http404 from None
    if index > 12:
        raise Http404
    min_days = _min_active_days(request)
    members = cohort_cell_members(cohort_week=cohort_week, week_index=index, min_active_days=min_days)
    page = Paginator(members, 50).get_page(request.GET.get("page"))
    context = _context(
        request,
        title=_("Cohort of %(week)s, week %(index)s") % {"week": cohort_week.isoformat(), "index": index},
        page=page,
        min_active_days=min_days,
    )
    return TemplateResponse(request, "analytics/cohort_cell.html", context)


@staff_only(*VIEWERS)
def churn(request: HttpRequest) -> HttpResponse:
    page = Paginator(churn_list(), 50).get_page(request.GET.get("page"))
    return TemplateResponse(request, "analytics/churn.html", _context(request, title=_("Gone quiet"), page=page))


@staff_only(*VIEWERS)
def target_list(request: HttpRequest) -> HttpResponse:
    form = KpiTargetForm()
    if request.method == "POST":
        if not roles.is_operator(request.user):
            raise Http404
        form = KpiTargetForm(request.POST)
        if form.is_valid():
            try:
                targets.kpi_target_set(actor=request.user, **form.cleaned_data)
            except ServiceError as error:
                form.add_error(error.field, error.message)
            else:
                messages.success(request, _("Target saved."))
                return redirect("analytics:targets")
    period = _scope_form(request).period()
    from analytics.selectors.dashboard import kpi_choices

    rows = with_targets(kpis_compute(period=period, keys=list(targets_by_kpi()), compare=False), targets_by_kpi())
    context = _context(request, title=_("KPI targets"), form=form, rows=rows, period=period, labels=dict(kpi_choices()))
    return TemplateResponse(request, "analytics/targets.html", context)


@require_POST
@staff_only(roles.OPERATOR)
def target_delete(request: HttpRequest, pk: int) -> HttpResponse:
    targets.kpi_target_delete(actor=request.user, target=get_object_or_404(KpiTarget, pk=pk))
    messages.success(request, _("Target removed."))
    return redirect("analytics:targets")


@require_POST
@staff_only(roles.OPERATOR)
def rebuild(request: HttpRequest) -> HttpResponse:
    from analytics.tasks import rollups_rebuild_everything

    # A full rebuild can take a while on a big stream: the worker does it, the page answers at once.
    actor_id = request.user.pk
    transaction.on_commit(lambda: rollups_rebuild_everything.delay(actor_id), robust=True)
    messages.success(request, _("The rollups are being rebuilt; reload the dashboard in a minute."))
    return redirect("analytics:dashboard")


@staff_only(*VIEWERS)
def experiment_list(request: HttpRequest) -> HttpResponse:
    context = _context(request, title=_("Experiments"), experiments=experiment_selectors.experiment_list())
    return TemplateResponse(request, "analytics/experiments.html", context)


@staff_only(*VIEWERS)
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=pk)
    results = experiment_selectors.experiment_results(experiment=experiment)
    chart = charts.bar_chart(
        bars=[(v["name"], v["rate"]) for v in results["variants"]], title=_("Conversion per variant (%)")
    )
    context = _context(request, title=experiment.name, experiment=experiment, results=results, chart=chart)
    return TemplateResponse(request, "analytics/experiment_detail.html", context)
