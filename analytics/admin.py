"""Admin pages: experiments with their variants (start, stop, assign), targets and rollup tables (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from analytics.models import DaySegment, Experiment, KpiTarget, KpiTargetCheck, Variant
from analytics.services import experiments as experiment_services
from community.admin import AuditedAdminMixin
from members.models import Member


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 2
    fields = ["position", "key", "name", "weight", "config"]


@admin.register(Experiment)
class ExperimentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "key", "status", "outcome_verb", "outcome_window_days", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "key"]
    inlines = [VariantInline]
    actions = ["start", "stop", "assign_active_members"]

    @admin.action(description=_("Start the selected experiments"), permissions=["change"])
    def start(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset:
            experiment_services.experiment_set_status(
                actor=request.user, experiment=experiment, status=Experiment.Status.RUNNING
            )

    @admin.action(description=_("Stop the selected experiments"), permissions=["change"])
    def stop(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset:
            experiment_services.experiment_set_status(
                actor=request.user, experiment=experiment, status=Experiment.Status.STOPPED
            )

    @admin.action(description=_("Assign every active member (running experiments)"), permissions=["change"])
    def assign_active_members(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        members = list(Member.objects.filter(status=Member.Status.ACTIVE, user__is_staff=False))
        assigned = 0
        for experiment in queryset.filter(status=Experiment.Status.RUNNING):
            assigned += experiment_services.experiment_assign_members(experiment=experiment, members=members)
        self.message_user(
            request,
            ngettext("%(count)d member assigned.", "%(count)d members assigned.", assigned) % {"count": assigned},
            messages.SUCCESS,
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(KpiTarget)
class KpiTargetAdmin(ReadOnlyAdmin):
    """Targets are set on the analytics targets page (audited there); the admin lists them."""

    list_display = ["kpi", "comparison", "value", "window_days", "is_active", "created_at"]


@admin.register(KpiTargetCheck)
class KpiTargetCheckAdmin(ReadOnlyAdmin):
    list_display = ["target", "day", "value", "met", "checked_at"]
    list_select_related = ["target"]
    list_filter = ["met"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DaySegment)
class DaySegmentAdmin(ReadOnlyAdmin):
    list_display = ["day", "segment", "members", "new_members", "left_members", "dau", "wau", "mau", "actions"]
    list_filter = ["segment"]
    date_hierarchy = "day"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
