"""The moderation queue: open reports with actions (dismiss, warn, mute for a period, remove from the program),
and the log of moderation actions. Every action calls the moderation services (audited, told to the member)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community.errors import ServiceError
from feedback import services as feedback_services
from feedback.admin.common import action_with_form
from feedback.models import ModerationAction, Report
from feedback.models.moderation import NOTE_MAX_LENGTH


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason (the member is told it)"), max_length=NOTE_MAX_LENGTH, widget=forms.Textarea
    )


class MuteForm(ReasonForm):
    days = forms.IntegerField(label=gettext_lazy("Mute for (days)"), min_value=1, max_value=365, initial=7)


class DismissForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=NOTE_MAX_LENGTH)


class OpenFirst(admin.SimpleListFilter):
    title = gettext_lazy("status")
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("all", gettext_lazy("All"))]

    def choices(self, changelist: Any):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("Open"),
        }
        yield {
            "selected": self.value() == "all",
            "query_string": changelist.get_query_string({self.parameter_name: "all"}),
            "display": _("All"),
        }

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset if self.value() == "all" else queryset.filter(status=Report.Status.OPEN)


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "reason", "target_type", "target_excerpt", "target_member", "reporter", "status"]
    list_filter = [OpenFirst, "reason", "target_type"]
    search_fields = ["target_excerpt", "note", "reporter__display_name", "target_member__display_name"]
    list_select_related = ["reporter", "target_member", "target_type"]
    readonly_fields = [
        "reporter",
        "target_type",
        "target_id",
        "target_member",
        "target_excerpt",
        "reason",
        "note",
        "status",
        "handled_by",
        "handled_at",
        "resolution_note",
        "created_at",
    ]
    actions = ["dismiss", "warn", "mute", "remove"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _on_members(self, request: HttpRequest, queryset: Any, act: Any) -> None:
        done = 0
        for report in queryset.select_related("target_member"):
            if report.target_member is None:
                self.message_user(request, _("Report #%(id)d names no member.") % {"id": report.pk}, messages.WARNING)
                continue
            try:
                act(report)
                done += 1
            except ServiceError as error:
                self.message_user(request, f"#{report.pk}: {error.message}", messages.WARNING)
        self.message_user(request, _("Handled %(count)d reports.") % {"count": done})

    @admin.action(description=gettext_lazy("Dismiss the selected reports"), permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: Any) -> Any:
        def apply(form: forms.Form) -> None:
            for report in queryset:
                feedback_services.report_dismiss(report=report, actor=request.user, note=form.cleaned_data["note"])
            self.message_user(request, _("Dismissed %(count)d reports.") % {"count": queryset.count()})

        return action_with_form(
            self,
            request,
            queryset,
            form_class=DismissForm,
            title=_("Dismiss reports"),
            intro=_("Nothing happens to the reported members."),
            submit_label=_("Dismiss"),
            apply=apply,
        )

    @admin.action(description=gettext_lazy("Warn the reported members"), permissions=["change"])
    def warn(self, request: HttpRequest, queryset: Any) -> Any:
        def apply(form: forms.Form) -> None:
            self._on_members(
                request,
                queryset,
                lambda report: feedback_services.moderation_warn(
                    member=report.target_member, actor=request.user, reason=form.cleaned_data["reason"], report=report
                ),
            )

        return action_with_form(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            title=_("Warn members"),
            intro=_("Each reported member is warned with your reason."),
            submit_label=_("Warn"),
            apply=apply,
        )

    @admin.action(description=gettext_lazy("Mute the reported members"), permissions=["change"])
    def mute(self, request: HttpRequest, queryset: Any) -> Any:
        def apply(form: forms.Form) -> None:
            until = timezone.now() + timedelta(days=form.cleaned_data["days"])
            self._on_members(
                request,
                queryset,
                lambda report: feedback_services.moderation_mute(
                    member=report.target_member,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    until=until,
                    report=report,
                ),
            )

        return action_with_form(
            self,
            request,
            queryset,
            form_class=MuteForm,
            title=_("Mute members"),
            intro=_("Muted members cannot post in the portal or through the API until the mute ends."),
            submit_label=_("Mute"),
            apply=apply,
        )

    @admin.action(description=gettext_lazy("Remove the reported members from the program"), permissions=["change"])
    def remove(self, request: HttpRequest, queryset: Any) -> Any:
        def apply(form: forms.Form) -> None:
            self._on_members(
                request,
                queryset,
                lambda report: feedback_services.moderation_remove(
                    member=report.target_member, actor=request.user, reason=form.cleaned_data["reason"], report=report
                ),
            )

        return action_with_form(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            title=_("Remove members"),
            intro=_("Each reported member is removed from the program with your reason."),
            submit_label=_("Remove from the program"),
            apply=apply,
        )


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "member", "kind", "muted_until", "lifted_at", "actor", "reason"]
    list_filter = ["kind"]
    search_fields = ["member__display_name", "reason"]
    list_select_related = ["member", "actor"]
    readonly_fields = ["member", "kind", "reason", "muted_until", "lifted_at", "report", "actor", "created_at"]
    actions = ["lift_mute"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Lift the selected mutes"), permissions=["change"])
    def lift_mute(self, request: HttpRequest, queryset: Any) -> None:
        for action in queryset.filter(kind=ModerationAction.Kind.MUTE, lifted_at__isnull=True):
            feedback_services.moderation_mute_lift(action=action, actor=request.user)
        self.message_user(request, _("Lifted the selected mutes."))
