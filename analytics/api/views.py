"""The analytics API (operators and analysts only): KPI values, daily series, cohorts, funnel, experiment results.

Every endpoint reads rollups through the selectors, so its query count does not grow with members or days.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.forms import ScopeForm
from analytics.models import Experiment
from analytics.selectors import experiments as experiment_selectors
from analytics.selectors.funnel import funnel
from analytics.selectors.kpis import KPIS, kpis_compute
from analytics.selectors.retention import cohort_cell_members, cohort_table
from analytics.selectors.series import daily_series, rollups_through
from community import roles
from community.api.views import error_responses


class IsOperatorOrAnalyst(BasePermission):
    message = "Only operators and analysts may read analytics."

    def has_permission(self, request: Any, view: Any) -> bool:
        return roles.user_has_role(request.user, roles.OPERATOR, roles.ANALYST)


SCOPE_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 29 days before `end`)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (default: the last rolled-up day)."),
    OpenApiParameter("segment", OpenApiTypes.STR, enum=["novice", "active", "loyal"]),
    OpenApiParameter("tag", OpenApiTypes.INT, description="Only members with this tag id."),
    OpenApiParameter("level", OpenApiTypes.INT, description="Only members holding this level id."),
    OpenApiParameter("round", OpenApiTypes.INT, description="Only members of this recruitment round id."),
]


def _scope(request: Request) -> ScopeForm:
    form = ScopeForm(request.query_params or {}, through=rollups_through())
    if not form.is_valid():
        errors = {field: [str(message) for message in messages] for field, messages in form.errors.items()}
        raise serializers.ValidationError(errors)
    return form


class KpiValueSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=list(KPIS))
    label = serializers.CharField()
    unit = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="null: not available (no data, or its app has none).")
    previous = serializers.FloatField(allow_null=True, help_text="The value over the period just before.")
    change = serializers.FloatField(allow_null=True)
    definition = serializers.CharField()


class KpiResponseSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    kpis = KpiValueSerializer(many=True)


class SeriesRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    members = serializers.IntegerField()
    new_members = serializers.IntegerField()
    left_members = serializers.IntegerField()
    dau = serializers.IntegerField()
    wau = serializers.IntegerField()
    mau = serializers.IntegerField()
    actions = serializers.IntegerField()
    check_ins = serializers.IntegerField()


class CohortCellSerializer(serializers.Serializer):
    week_index = serializers.IntegerField()
    members = serializers.IntegerField(allow_null=True, help_text="null: the week has not fully passed yet.")
    percent = serializers.FloatField(allow_null=True)


class CohortRowSerializer(serializers.Serializer):
    cohort_week = serializers.DateField()
    size = serializers.IntegerField()
    cells = CohortCellSerializer(many=True)


class CohortTableSerializer(serializers.Serializer):
    weeks = serializers.ListField(child=serializers.IntegerField())
    min_active_days = serializers.IntegerField()
    rows = CohortRowSerializer(many=True)


class CohortMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    active_days = serializers.IntegerField()


class CohortMemberPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CohortMemberSerializer(many=True)


class FunnelStepSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField(allow_null=True)
    conversion = serializers.FloatField(allow_null=True)


class TestSerializer(serializers.Serializer):
    difference_points = serializers.FloatField()
    ci_low_points = serializers.FloatField()
    ci_high_points = serializers.FloatField()
    z = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField()


class VariantResultSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    assigned = serializers.IntegerField()
    converted = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    is_control = serializers.BooleanField()
    test = TestSerializer(allow_null=True)


class ExperimentResultSerializer(serializers.Serializer):
    experiment = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    outcome_verb = serializers.CharField()
    outcome_window_days = serializers.IntegerField()
    confidence = serializers.FloatField()
    variants = VariantResultSerializer(many=True)


class ExperimentSerializer(serializers.ModelSerializer):
    assigned = serializers.IntegerField(read_only=True)

    class Meta:
        model = Experiment
        fields = ["id", "key", "name", "status", "outcome_verb", "outcome_window_days", "created_at", "assigned"]
        read_only_fields = fields


PERMISSIONS = [IsAuthenticated, IsOperatorOrAnalyst]


class KpiView(APIView):
    """KPI values over a period and scope, each with the previous period's value."""

    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=SCOPE_PARAMETERS, responses={200: KpiResponseSerializer, **error_responses(400, 401, 403)}
    )
    def get(self, request: Request) -> Response:
        form = _scope(request)
        period = form.period()
        values = kpis_compute(period=period, scope=form.scope())
        return Response({"start": period.start, "end": period.end, "kpis": [v.as_dict() for v in values]})


class SeriesView(APIView):
    """One row per day: members, new, left, DAU, WAU, MAU, actions, check-ins."""

    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=SCOPE_PARAMETERS, responses={200: SeriesRowSerializer(many=True), **error_responses(400, 401, 403)}
    )
    def get(self, request: Request) -> Response:
        form = _scope(request)
        return Response(SeriesRowSerializer(daily_series(period=form.period(), scope=form.scope()), many=True).data)


MIN_DAYS_PARAMETER = OpenApiParameter(
    "min_active_days", OpenApiTypes.INT, description="Count a member as retained only after this many active days "
    "in the week (1-7, default 1)."
)  # fmt: skip


def _min_days(request: Request) -> int:
    raw = request.query_params.get("min_active_days", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 7:
        raise serializers.ValidationError({"min_active_days": ["Give a whole number from 1 to 7."]})
    return int(raw)


class CohortView(APIView):
    """The weekly cohort table (cohort by join week, columns week 0 … 12)."""

    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[*SCOPE_PARAMETERS[2:], MIN_DAYS_PARAMETER,
                    OpenApiParameter("cohorts", OpenApiTypes.INT, description="How many weeks of cohorts (1-52).")],
        responses={200: CohortTableSerializer, **error_responses(400, 401, 403)},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        form = _scope(request)
        raw = request.query_params.get("cohorts", "12")
        if not raw.isdigit() or not 1 <= int(raw) <= 52:
            raise serializers.ValidationError({"cohorts": ["Give a whole number from 1 to 52."]})
        table = cohort_table(cohorts=int(raw), min_active_days=_min_days(request), scope=form.scope())
        return Response(CohortTableSerializer(table).data)


class CohortMembersView(APIView):
    """The members counted in one cell of the cohort table."""

    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[MIN_DAYS_PARAMETER, OpenApiParameter("page", OpenApiTypes.INT)],
        responses={200: CohortMemberPageSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, week: date, index: int) -> Response:
        members = cohort_cell_members(cohort_week=week, week_index=index, min_active_days=_min_days(request))
        from community.api.pagination import StandardPagination

        paginator = StandardPagination()
        page = paginator.paginate_queryset(members, request, view=self)
        return paginator.get_paginated_response(CohortMemberSerializer(page, many=True).data)


class FunnelView(APIView):
    """Applied → screened → accepted → joined → active after 30 days → loyal, for the period."""

    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=SCOPE_PARAMETERS, responses={200: FunnelStepSerializer(many=True), **error_responses(400, 401, 403)}
    )
    def get(self, request: Request) -> Response:
        form = _scope(request)
        return Response(FunnelStepSerializer(funnel(period=form.period(), scope=form.scope()), many=True).data)


class ExperimentListView(APIView):
    """Every experiment with how many members are assigned."""

    permission_classes = PERMISSIONS

    @extend_schema(responses={200: ExperimentSerializer(many=True), **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        return Response(ExperimentSerializer(experiment_selectors.experiment_list(), many=True).data)


class ExperimentResultView(APIView):
    """An experiment's result: conversion per variant and the z-test of each against the control."""

    permission_classes = PERMISSIONS

    @extend_schema(responses={200: ExperimentResultSerializer, **error_responses(401, 403, 404)})
    def get(self, request: Request, pk: int) -> Response:
        experiment = get_object_or_404(Experiment, pk=pk)
        return Response(experiment_selectors.experiment_results(experiment=experiment))
