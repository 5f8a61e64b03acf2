"""Admin for point rules, streak bonuses, levels, and (read-only) member levels and check-ins."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from community.admin import AuditedAdminMixin, ReadOnlyAdmin
from community.errors import ServiceError
from rewards.models import CheckIn, Level, MemberLevel, PointRule, Privilege, StreakBonus
from rewards.services import rules as rule_services


class PointRuleForm(forms.ModelForm):
    class Meta:
        model = PointRule
        fields = list(rule_services.EDITABLE_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        fields = {name: cleaned[name] for name in rule_services.EDITABLE_FIELDS if name in cleaned}
        try:
            rule_services.point_rule_validate(fields)
        except ServiceError as error:
            self.add_error(error.field if error.field in self.fields else None, error.message)
        starts, ends = cleaned.get("active_from"), cleaned.get("active_until")
        if starts and ends and ends <= starts:
            self.add_error("active_until", _("The end must be after the start."))
        return cleaned


@admin.register(PointRule)
class PointRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Edits go through the rules service: a change to what a rule awards bumps its version (entries already
    posted keep theirs) and is written to the audit log."""

    form = PointRuleForm
    list_display = [
        "name",
        "verb",
        "points",
        "daily_cap",
        "weekly_cap",
        "cooldown_seconds",
        "first_time_only",
        "is_active",
        "version",
        "updated_at",
    ]
    list_filter = ["is_active", "verb"]
    search_fields = ["name", "verb"]
    readonly_fields = ["version", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "verb", "points", "description", "is_active", "version", "updated_at"]}),
        (_("Limits"), {"fields": ["daily_cap", "weekly_cap", "cooldown_seconds", "first_time_only"]}),
        (_("When and what"), {"fields": ["conditions", "active_from", "active_until"]}),
    ]

    def save_model(self, request: HttpRequest, obj: PointRule, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in rule_services.EDITABLE_FIELDS if name in form.cleaned_data}
        try:
            if change:
                saved = rule_services.point_rule_update(
                    actor=request.user,
                    rule=obj,
                    **{name: value for name, value in fields.items() if name in form.changed_data},
                )
            else:
                saved = rule_services.point_rule_create(actor=request.user, **fields)
        except ServiceError as error:  # checked in the form already; a race with another edit lands here
            raise forms.ValidationError(error.message) from error
        # The admin reads the saved object back (its id for the redirect, the new version for the message).
        obj.pk, obj.version, obj.updated_at = saved.pk, saved.version, saved.updated_at


@admin.register(StreakBonus)
class StreakBonusAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "days", "points", "repeats", "is_active"]
    list_editable = ["points", "repeats", "is_active"]
    list_filter = ["is_active"]


class LevelForm(forms.ModelForm):
    privileges = forms.MultipleChoiceField(
        label=_("Privileges"), choices=Privilege.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Level
        fields = [
            "name",
            "threshold",
            "description",
            "min_active_days",
            "active_days_window",
            "privileges",
            "shop_discount_percent",
            "demotion_grace_days",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        has_discount = Privilege.SHOP_DISCOUNT.value in (cleaned.get("privileges") or [])
        if has_discount and not cleaned.get("shop_discount_percent"):
            self.add_error("shop_discount_percent", _("Give the discount a size, or untick the shop discount."))
        return cleaned


@admin.register(Level)
class LevelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = LevelForm
    list_display = [
        "name",
        "threshold",
        "min_active_days",
        "active_days_window",
        "shop_discount_percent",
        "demotion_grace_days",
        "holder_count",
    ]
    ordering = ["threshold"]

    def get_queryset(self, request: HttpRequest) -> Any:
        from django.db.models import Count

        return super().get_queryset(request).annotate(holders_count=Count("holders"))

    @admin.display(description=_("members"), ordering="holders_count")
    def holder_count(self, obj: Level) -> int:
        return obj.holders_count  # type: ignore[attr-defined]


@admin.register(MemberLevel)
class MemberLevelAdmin(ReadOnlyAdmin):
    list_display = ["member", "level", "reached_at", "below_since"]
    list_filter = ["level", ("below_since", admin.EmptyFieldListFilter)]
    search_fields = ["member__display_name", "member__user__email"]
    list_select_related = ["member", "level"]
    show_full_result_count = False


@admin.register(CheckIn)
class CheckInAdmin(ReadOnlyAdmin):
    list_display = ["local_date", "member", "streak", "created_at"]
    list_filter = ["local_date"]
    search_fields = ["member__display_name", "member__user__email"]
    list_select_related = ["member"]
    date_hierarchy = "local_date"
    show_full_result_count = False
