"""The surveys builder (questions inline), and each survey's results with NPS/CSAT and a CSV export."""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community.admin import AuditedAdminMixin
from feedback import selectors
from feedback.models import Survey, SurveyQuestion, SurveyResponse
from members.models import Member


class SurveyForm(forms.ModelForm):
    target_segments = forms.MultipleChoiceField(
        label=gettext_lazy("Target segments"),
        choices=Member.Segment.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("No segment and no tag: every member."),
    )

    class Meta:
        model = Survey
        fields = ["title", "description", "opens_at", "closes_at", "is_published", "target_segments", "target_tags"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("closes_at") and data.get("opens_at") and data["closes_at"] <= data["opens_at"]:
            self.add_error("closes_at", _("A survey must close after it opens."))
        return data


class QuestionForm(forms.ModelForm):
    class Meta:
        model = SurveyQuestion
        fields = ["order", "kind", "prompt", "choices", "required"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        choices = data.get("choices") or []
        if data.get("kind") == SurveyQuestion.Kind.CHOICE:
            if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
                raise ValidationError(_('A choice question needs at least two options, e.g. ["Yes", "No"].'))
        elif choices:
            data["choices"] = []
        return data


class QuestionInline(admin.TabularInline):
    model = SurveyQuestion
    form = QuestionForm
    extra = 1
    ordering = ["order", "id"]


@admin.register(Survey)
class SurveyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = SurveyForm
    inlines = [QuestionInline]
    list_display = ["title", "opens_at", "closes_at", "is_published", "response_count", "results_link"]
    list_filter = ["is_published"]
    search_fields = ["title"]

    def get_queryset(self, request: HttpRequest) -> Any:
        from django.db.models import Count

        return super().get_queryset(request).annotate(response_total=Count("responses"))

    @admin.display(description=gettext_lazy("responses"), ordering="response_total")
    def response_count(self, obj: Survey) -> int:
        return getattr(obj, "response_total", 0)

    @admin.display(description=gettext_lazy("results"))
    def results_link(self, obj: Survey) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:feedback_survey_results", args=[obj.pk]), _("Results"))

    def save_model(self, request: HttpRequest, obj: Survey, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self) -> list[Any]:
        return [
            path("<int:pk>/results/", self.admin_site.admin_view(self.results_view), name="feedback_survey_results"),
            path("<int:pk>/results.csv", self.admin_site.admin_view(self.results_csv), name="feedback_survey_csv"),
            *super().get_urls(),
        ]

    def results_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        survey = get_object_or_404(Survey, pk=pk)
        if not self.has_view_permission(request, survey):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": Survey._meta,
            "title": _("Results: %(title)s") % {"title": survey.title},
            "results": selectors.survey_results(survey=survey),
        }
        return TemplateResponse(request, "feedback/admin/survey_results.html", context)

    def results_csv(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        survey = get_object_or_404(Survey, pk=pk)
        if not self.has_view_permission(request, survey):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied

        class Echo:
            def write(self, value: str) -> str:
                return value

        writer = csv.writer(Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in selectors.survey_csv_rows(survey=survey)), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="survey-{survey.pk}.csv"'
        return response


@admin.register(SurveyResponse)
class SurveyResponseAdmin(admin.ModelAdmin):
    list_display = ["submitted_at", "survey", "member"]
    list_filter = ["survey"]
    list_select_related = ["survey", "member"]
    readonly_fields = ["survey", "member", "submitted_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
