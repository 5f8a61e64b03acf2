"""Recruitment in the operator admin: rounds with quotas, the questionnaire builder (questions with their choices
and number ranges), the review queue (ranked, filtered, explained, bulk decisions), the usage CSV import with its
preview, decision templates, exit surveys and the segmentation thresholds."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from community.admin import AuditedAdminMixin, ReadOnlyAdmin
from community.errors import ServiceError
from members.models import (
    Answer,
    Application,
    Choice,
    DecisionTemplate,
    ExitSurvey,
    Interview,
    NumberRange,
    Question,
    Round,
    RoundQuota,
    SegmentationSettings,
    UsageImport,
)
from members.selectors import BEST_FIRST
from members.services import decisions, segmentation, usage
from members.services.applications import round_score_soon


class RescoreOnSaveMixin:
    """Scoring rules changed: rescore the round once the change is committed."""

    def _round_id(self, obj: Any) -> int:
        return obj.pk if isinstance(obj, Round) else obj.round_id

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        round_score_soon(round_id=self._round_id(form.instance))


class QuotaInline(admin.TabularInline):
    model = RoundQuota
    extra = 0


class QuestionInline(admin.TabularInline):
    model = Question
    fields = ["position", "kind", "text", "required", "weight", "scale_max", "points_if_answered"]
    extra = 0
    show_change_link = True


@admin.register(Round)
class RoundAdmin(RescoreOnSaveMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "opens_at", "closes_at", "capacity", "accepted", "applications_count", "is_open_now"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [QuotaInline, QuestionInline]
    actions = ["rescore", "promote_waitlist"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(
                accepted_count=Count("applications", filter=Q(applications__status=Application.Status.ACCEPTED)),
                applications_total=Count("applications"),
            )
        )

    @admin.display(description=_("accepted"), ordering="accepted_count")
    def accepted(self, obj: Round) -> int:
        return obj.accepted_count

    @admin.display(description=_("applications"), ordering="applications_total")
    def applications_count(self, obj: Round) -> int:
        return obj.applications_total

    @admin.display(description=_("open"), boolean=True)
    def is_open_now(self, obj: Round) -> bool:
        return obj.is_open()

    @admin.action(description=_("Rescore the applications"))
    def rescore(self, request: HttpRequest, queryset: Any) -> None:
        from members.services import scoring

        total = sum(scoring.round_score(round_id=round.pk) for round in queryset)
        self.message_user(
            request,
            ngettext("%(count)d application scored.", "%(count)d applications scored.", total) % {"count": total},
        )

    @admin.action(description=_("Fill free places from the waitlist"))
    def promote_waitlist(self, request: HttpRequest, queryset: Any) -> None:
        promoted = sum(len(decisions.round_waitlist_promote(round=round, actor=request.user)) for round in queryset)
        self.message_user(
            request,
            ngettext("%(count)d application promoted.", "%(count)d applications promoted.", promoted)
            % {"count": promoted},
        )


class ChoiceInline(admin.TabularInline):
    model = Choice
    fields = ["position", "label", "points", "knockout", "segment"]
    extra = 2


class NumberRangeInline(admin.TabularInline):
    model = NumberRange
    fields = ["minimum", "maximum", "points", "knockout"]
    extra = 1


@admin.register(Question)
class QuestionAdmin(RescoreOnSaveMixin, AuditedAdminMixin, admin.ModelAdmin):
    """The questionnaire builder: a question with its points per choice, number ranges and knock-outs."""

    list_display = ["text", "round", "kind", "position", "required", "weight"]
    list_filter = ["round", "kind"]
    list_select_related = ["round"]
    search_fields = ["text"]
    inlines = [ChoiceInline, NumberRangeInline]


class InterviewInline(admin.TabularInline):
    model = Interview
    fields = ["scheduled_at", "duration_minutes", "location", "interviewer", "notes"]
    extra = 0
    raw_id_fields = ["interviewer"]


class ApplicationActionForm(helpers.ActionForm):
    reason = forms.ChoiceField(label=_("Reason"), choices=[("", "—"), *Application.Reason.choices], required=False)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)


def _bulk_decision(status: str, description: Any):
    def action(modeladmin: ApplicationAdmin, request: HttpRequest, queryset: Any) -> None:
        done, refusals = decisions.applications_decide_bulk(
            application_ids=list(queryset.values_list("pk", flat=True)),
            status=status,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            note=request.POST.get("note", ""),
        )
        if done:
            modeladmin.message_user(
                request,
                ngettext("%(count)d application updated.", "%(count)d applications updated.", done) % {"count": done},
            )
        for message in sorted(set(refusals)):
            count = refusals.count(message)
            modeladmin.message_user(request, f"{message} (x{count})", messages.WARNING)

    action.__name__ = f"decide_{status}"
    return admin.action(description=description)(action)


@admin.register(Application)
class ApplicationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """The review queue: ranked by score with its explanation, filtered, decided in bulk."""

    list_display = [
        "applicant",
        "round",
        "status",
        "segment",
        "total_score",
        "questionnaire_score",
        "usage_percentile",
        "top_usage",
        "knocked_out",
        "submitted_at",
    ]
    list_filter = [
        "round",
        "status",
        "segment",
        ("scorecard__top_usage", admin.BooleanFieldListFilter),
        ("scorecard__knocked_out", admin.BooleanFieldListFilter),
        "source",
        "language",
    ]
    search_fields = ["member__display_name", "member__user__email"]
    list_select_related = ["member__user", "round", "scorecard"]
    ordering = [BEST_FIRST, "submitted_at", "id"]
    list_per_page = 50
    show_full_result_count = False
    action_form = ApplicationActionForm
    actions = [
        _bulk_decision(Application.Status.ACCEPTED, _("Accept (up to capacity, best score first)")),
        _bulk_decision(Application.Status.WAITLISTED, _("Waitlist")),
        _bulk_decision(Application.Status.REJECTED, _("Reject (choose a reason)")),
        _bulk_decision(Application.Status.INTERVIEW, _("Invite to an interview")),
        _bulk_decision(Application.Status.SCREENING, _("Back to screening")),
    ]
    inlines = [InterviewInline]
    readonly_fields = [
        "round",
        "member",
        "status",
        "stage",
        "segment",
        "language",
        "source",
        "submitted_at",
        "decided_at",
        "decided_by",
        "decision_reason",
        "decision_note",
        "score_breakdown",
        "usage_data",
        "answers_given",
    ]
    fieldsets = (
        (None, {"fields": ("round", "member", "status", "stage", "segment", "language", "source", "submitted_at")}),
        (_("Scorecard"), {"fields": ("score_breakdown", "usage_data")}),
        (_("Answers"), {"fields": ("answers_given",)}),
        (_("Decision"), {"fields": ("decided_at", "decided_by", "decision_reason", "decision_note")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # applications come from the portal or the API

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("member__user", "round", "scorecard", "usage")

    @admin.display(description=_("applicant"), ordering="member__display_name")
    def applicant(self, obj: Application) -> str:
        return f"{obj.member.display_name} <{obj.member.user.email}>"

    def _card(self, obj: Application) -> Any:
        return getattr(obj, "scorecard", None)

    @admin.display(description=_("score"), ordering="scorecard__total")
    def total_score(self, obj: Application) -> Any:
        card = self._card(obj)
        return card.total if card else None

    @admin.display(description=_("questionnaire"), ordering="scorecard__questionnaire_score")
    def questionnaire_score(self, obj: Application) -> Any:
        card = self._card(obj)
        return card.questionnaire_score if card else None

    @admin.display(description=_("usage percentile"), ordering="scorecard__usage_percentile")
    def usage_percentile(self, obj: Application) -> Any:
        card = self._card(obj)
        return f"{card.usage_percentile * 100:.0f}%" if card and card.breakdown.get("usage", {}).get("data") else "—"

    @admin.display(description=_("top usage"), boolean=True, ordering="scorecard__top_usage")
    def top_usage(self, obj: Application) -> Any:
        card = self._card(obj)
        return card.top_usage if card else None

    @admin.display(description=_("knocked out"), boolean=True, ordering="scorecard__knocked_out")
    def knocked_out(self, obj: Application) -> Any:
        card = self._card(obj)
        return card.knocked_out if card else None

    @admin.display(description=_("score breakdown"))
    def score_breakdown(self, obj: Application) -> Any:
        card = self._card(obj)
        if card is None:
            return _("Not scored yet.")
        texts = dict(Question.objects.filter(round_id=obj.round_id).values_list("pk", "text"))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (texts.get(line["q"], "?"), line["why"], line["points"], "✗" if line["ko"] else "")
                for line in card.breakdown.get("questions", [])
            ),
        )
        used = card.breakdown.get("usage", {})
        usage_line = (
            format_html(
                "{}: {} · {}: {} · {}",
                _("usage value"),
                used.get("value"),
                _("percentile"),
                f"{used.get('percentile', 0) * 100:.0f}%",
                ", ".join(f"{name} {share}" for name, share in used.get("parts", {}).items()),
            )
            if used.get("data")
            else _("No usage data.")
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}"
            "<tr><td>{}</td><td>{}</td><td>{}</td><td></td></tr></tbody></table>"
            "<p><strong>{}: {}</strong> ({} {} + {} {}){}</p>",
            _("question"),
            _("answer"),
            _("points"),
            _("knock-out"),
            rows,
            _("Usage"),
            usage_line,
            card.usage_score,
            _("Total"),
            card.total,
            _("questionnaire"),
            card.questionnaire_score,
            _("usage"),
            card.usage_score,
            format_html(" · {}", _("top usage")) if card.top_usage else "",
        )

    @admin.display(description=_("usage data"))
    def usage_data(self, obj: Application) -> Any:
        metric = getattr(obj, "usage", None)
        if metric is None:
            return _("No usage data imported.")
        return format_html(
            "{}: {} · {}: {} · {}: {} · {}: {} · {}: {} · {}: {}",
            _("active days in the last 30"),
            metric.active_days_30,
            _("average session (minutes)"),
            metric.session_minutes,
            _("tenure (days)"),
            metric.tenure_days,
            _("paying customer"),
            _("yes") if metric.paid else _("no"),
            _("willing to pay"),
            _("yes") if metric.willing_to_pay else _("no"),
            _("content created"),
            metric.content_created,
        )

    @admin.display(description=_("answers"))
    def answers_given(self, obj: Application) -> Any:
        answers = list(Answer.objects.filter(application=obj).select_related("question").order_by("question__position"))
        labels = dict(Choice.objects.filter(question__round_id=obj.round_id).values_list("pk", "label"))
        return format_html_join(
            "",
            "<p><strong>{}</strong><br>{}</p>",
            (
                (
                    answer.question.text,
                    ", ".join(labels.get(pk, "?") for pk in answer.choice_ids)
                    if answer.choice_ids
                    else (answer.number if answer.number is not None else answer.text),
                )
                for answer in answers
            ),
        )

    # --- usage import --------------------------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("import-usage/", view(self.usage_upload_view), name="members_application_usage_upload"),
            path("import-usage/<int:pk>/", view(self.usage_preview_view), name="members_application_usage_preview"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"usage_upload_url": reverse("admin:members_application_usage_upload"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def _require_change(self, request: HttpRequest) -> None:
        from django.core.exceptions import PermissionDenied

        if not self.has_change_permission(request):
            raise PermissionDenied

    def usage_upload_view(self, request: HttpRequest) -> HttpResponse:
        self._require_change(request)
        form = UsageUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            usage_import = usage.usage_import_preview(
                round=form.cleaned_data["round"], filename=upload.name, content=upload.read(), actor=request.user
            )
            return HttpResponseRedirect(reverse("admin:members_application_usage_preview", args=[usage_import.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import usage data"),
            "form": form,
            "opts": self.model._meta,
            "columns": usage.COLUMNS,
        }
        return render(request, "admin/members/usage_upload.html", context)

    def usage_preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require_change(request)
        usage_import = get_object_or_404(UsageImport.objects.select_related("round"), pk=pk)
        if request.method == "POST":
            try:
                count = usage.usage_import_confirm(usage_import=usage_import, actor=request.user)
            except ServiceError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    ngettext("%(count)d row imported.", "%(count)d rows imported.", count) % {"count": count},
                )
                return HttpResponseRedirect(reverse("admin:members_application_changelist"))
        counts = {"ok": 0, "unknown": 0, "invalid": 0, "duplicate": 0}
        for row in usage_import.report:
            counts[row["status"]] += 1
        context = {
            **self.admin_site.each_context(request),
            "title": _("Check the usage import"),
            "usage_import": usage_import,
            "counts": counts,
            "problems": len(usage_import.report) - counts["ok"],
            "opts": self.model._meta,
        }
        return render(request, "admin/members/usage_preview.html", context)


class UsageUploadForm(forms.Form):
    round = forms.ModelChoiceField(label=_("Round"), queryset=Round.objects.order_by("-opens_at"))
    file = forms.FileField(label=_("CSV file"), help_text=_("UTF-8, with a header row."))


@admin.register(UsageImport)
class UsageImportAdmin(ReadOnlyAdmin):
    list_display = ["filename", "round", "status", "created_by", "created_at", "applied_at", "preview"]
    list_filter = ["status", "round"]
    list_select_related = ["round", "created_by"]
    exclude = ["rows"]

    @admin.display(description=_("report"))
    def preview(self, obj: UsageImport) -> Any:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:members_application_usage_preview", args=[obj.pk]),
            _("Open the report"),
        )


@admin.register(Interview)
class InterviewAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["application", "scheduled_at", "location", "interviewer"]
    list_select_related = ["application__member", "application__round", "interviewer"]
    list_filter = ["application__round"]
    raw_id_fields = ["application", "interviewer"]
    date_hierarchy = "scheduled_at"


@admin.register(DecisionTemplate)
class DecisionTemplateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["kind", "language", "subject"]
    list_filter = ["kind", "language"]


@admin.register(ExitSurvey)
class ExitSurveyAdmin(ReadOnlyAdmin):
    list_display = ["member", "reason", "would_return", "created_at"]
    list_filter = ["reason", "would_return"]
    list_select_related = ["member"]
    search_fields = ["member__display_name", "detail"]
    date_hierarchy = "created_at"


@admin.register(SegmentationSettings)
class SegmentationSettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "window_days", "active_min", "loyal_min"]
    actions = ["recompute_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not SegmentationSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        segmentation.segmentation_settings()  # the one row exists from the first visit on
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Recompute every member's segment now"))
    def recompute_now(self, request: HttpRequest, queryset: Any) -> None:
        changed = segmentation.members_segment_recompute(actor=request.user)
        self.message_user(
            request,
            ngettext("%(count)d member changed segment.", "%(count)d members changed segment.", sum(changed.values()))
            % {"count": sum(changed.values())},
        )
