"""Operator pages for the rewards shop: the catalogue with coupon-code imports, the pools of codes, the
fulfilment queue, and the points-expiry settings. Every change goes through the shop services."""

from __future__ import annotations

import csv
import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community.admin import AuditedAdminMixin
from community.errors import ServiceError
from rewards.models import CouponCode, PointsExpiryWarning, Redemption, Reward, RewardsSettings
from rewards.services import shop as shop_services

MAX_IMPORT_BYTES = 5 * 1024 * 1024
CSV_HEADERS = {"code", "codes", "coupon", "coupon code", "coupon_code"}  # a first row like this is a header


class RewardAdminForm(forms.ModelForm):
    class Meta:
        model = Reward
        fields = [
            "kind",
            "name",
            "description",
            "image",
            "price",
            "stock",
            "per_member_limit",
            "min_level",
            "available_from",
            "available_until",
            "is_active",
            "sort_order",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The page carries the stock the operator saw, so a sale made meanwhile is neither overwritten nor
        # mistaken for an edit.
        if "stock" in self.fields:
            self.fields["stock"].show_hidden_initial = True
        self.stock_seen: int | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        instance = self.instance
        if instance.pk and "stock" in self.changed_data:
            try:
                self.stock_seen = int(self.data.get(self.add_initial_prefix("stock"), ""))
            except ValueError:
                self.stock_seen = None
            current = Reward.objects.filter(pk=instance.pk).values_list("stock", flat=True).first()
            if current is not None and self.stock_seen is not None and current != self.stock_seen:
                self.add_error(
                    "stock",
                    _("The stock changed to %(now)d while you were editing; check it and save again.")
                    % {"now": current},
                )
        kind = data.get("kind") or instance.kind
        if (
            instance.pk
            and "kind" in self.changed_data
            and (instance.coupon_codes.exists() or instance.redemptions.exists())
        ):
            self.add_error("kind", _("This reward has codes or redemptions; its kind cannot change."))
        if kind == Reward.Kind.COUPON and data.get("stock") and not instance.pk:
            self.add_error("stock", _("A coupon's stock is its pool of codes: save it, then import codes."))
        return data


@admin.register(Reward)
class RewardAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = RewardAdminForm
    list_display = [
        "name",
        "kind",
        "price",
        "stock",
        "per_member_limit",
        "min_level",
        "available_from",
        "available_until",
        "is_active",
        "sort_order",
    ]
    list_select_related = ["min_level"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    ordering = ["sort_order", "name"]

    def get_readonly_fields(self, request: HttpRequest, obj: Reward | None = None) -> list[str]:
        if obj is not None and obj.kind == Reward.Kind.COUPON:
            return ["stock", "code_pool"]
        return ["code_pool"]

    @admin.display(description=gettext_lazy("Coupon codes"))
    def code_pool(self, obj: Reward | None) -> str:
        if obj is None or obj.pk is None or obj.kind != Reward.Kind.COUPON:
            return "—"
        used = obj.coupon_codes.filter(redemption__isnull=False).count()
        return format_html(
            '{} · <a href="{}">{}</a>',
            _("%(free)d unused, %(used)d given out") % {"free": obj.stock, "used": used},
            reverse("admin:rewards_reward_import_codes", args=[obj.pk]),
            _("Import codes"),
        )

    def save_model(self, request: HttpRequest, obj: Reward, form: Any, change: bool) -> None:
        # Through the services (validation, stock rules, audit) rather than a plain save.
        values = {}
        for name in form.changed_data if change else form.cleaned_data:
            if name not in shop_services.REWARD_FIELDS:
                continue
            value = form.cleaned_data[name]
            values[name] = "" if name == "image" and value is False else value
        if change:
            stock_seen = getattr(form, "stock_seen", None) if "stock" in values else None
            saved = shop_services.reward_update(reward=obj, actor=request.user, expected_stock=stock_seen, **values)
        else:
            if values.get("image") is None:
                values.pop("image", None)
            saved = shop_services.reward_create(actor=request.user, **values)
        obj.pk = saved.pk
        obj._state.adding = False
        obj.__dict__.update({f.attname: getattr(saved, f.attname) for f in saved._meta.concrete_fields})

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/import-codes/",
                self.admin_site.admin_view(self.import_codes_view),
                name="rewards_reward_import_codes",
            ),
            *super().get_urls(),
        ]

    def import_codes_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        reward = get_object_or_404(Reward, pk=pk, kind=Reward.Kind.COUPON)
        if not self.has_change_permission(request, reward):
            raise PermissionDenied
        form = CouponImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = shop_services.coupon_codes_import(reward=reward, codes=form.code_lines(), actor=request.user)
            except ServiceError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, _("Imported %(added)d codes.") % {"added": result.added}, messages.SUCCESS)
                if result.duplicates:
                    shown = ", ".join(result.duplicates[:20]) + (" …" if len(result.duplicates) > 20 else "")
                    self.message_user(
                        request,
                        _("Skipped %(count)d duplicates: %(codes)s")
                        % {"count": len(result.duplicates), "codes": shown},
                        messages.WARNING,
                    )
                if result.invalid:
                    shown = ", ".join(result.invalid[:20]) + (" …" if len(result.invalid) > 20 else "")
                    self.message_user(
                        request,
                        _("Skipped %(count)d invalid codes (spaces or over 100 characters): %(codes)s")
                        % {"count": len(result.invalid), "codes": shown},
                        messages.WARNING,
                    )
                return redirect("admin:rewards_reward_change", reward.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import coupon codes for “%(name)s”") % {"name": reward.name},
            "reward": reward,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "rewards/shop/admin_import_codes.html", context)


class CouponImportForm(forms.Form):
    codes = forms.CharField(
        label=gettext_lazy("Codes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60}),
        help_text=gettext_lazy("One code per line."),
    )
    file = forms.FileField(
        label=gettext_lazy("Or a file"),
        required=False,
        help_text=gettext_lazy("A text file with one code per line, or a CSV file whose first column is the code."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload is not None and upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("The file is too large (at most 5 MB)."))
        if not data.get("codes") and upload is None:
            raise forms.ValidationError(_("Paste codes or choose a file."))
        if upload is not None:
            try:
                data["file_text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError(_("The file must be UTF-8 text or CSV."))
        return data

    def code_lines(self) -> list[str]:
        lines = (self.cleaned_data.get("codes") or "").splitlines()
        text = self.cleaned_data.get("file_text")
        if text:
            rows = [row[0] if row else "" for row in csv.reader(io.StringIO(text))]
            if rows and rows[0].strip().lower() in CSV_HEADERS:
                rows = rows[1:]
            lines += rows
        return lines


class CodeStateFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("free", gettext_lazy("unused")), ("taken", gettext_lazy("given out"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "free":
            return queryset.filter(redemption__isnull=True)
        if self.value() == "taken":
            return queryset.filter(redemption__isnull=False)
        return queryset


@admin.register(CouponCode)
class CouponCodeAdmin(admin.ModelAdmin):
    """Codes arrive by import (on the reward's page) and leave by being redeemed or withdrawn."""

    list_display = ["code", "reward", "redemption", "revealed_at", "created_at"]
    list_filter = [CodeStateFilter, "reward"]
    search_fields = ["code", "reward__name"]
    list_select_related = ["reward", "redemption"]
    actions = ["withdraw"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Withdraw the selected unused codes"), permissions=["view"])
    def withdraw(self, request: HttpRequest, queryset: Any) -> None:
        if not request.user.has_perm("rewards.delete_couponcode"):
            raise PermissionDenied
        removed = 0
        by_reward: dict[int, list[int]] = {}
        for reward_id, code_id in queryset.values_list("reward_id", "pk"):
            by_reward.setdefault(reward_id, []).append(code_id)
        for reward in Reward.objects.filter(pk__in=by_reward):
            removed += shop_services.coupon_codes_withdraw(
                reward=reward, code_ids=by_reward[reward.pk], actor=request.user
            )
        self.message_user(
            request, _("Withdrew %(count)d unused codes; codes already given out were kept.") % {"count": removed}
        )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason (the member sees it)"), max_length=shop_services.CANCEL_REASON_MAX_LENGTH
    )


@admin.register(Redemption)
class RedemptionAdmin(admin.ModelAdmin):
    """The fulfilment queue: filter by status, fulfil or cancel (with a refund) through the actions."""

    list_display = [
        "id",
        "created_at",
        "member",
        "reward",
        "price_paid",
        "status",
        "short_note",
        "fulfilled_at",
        "cancelled_at",
        "changed_by",
    ]
    list_filter = ["status", "reward__kind", "reward"]
    search_fields = ["member__display_name", "member__user__email", "reward__name", "idempotency_key"]
    list_select_related = ["member", "reward", "changed_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["fulfil", "cancel_with_refund"]
    readonly_fields = [
        "member",
        "reward",
        "price_paid",
        "status",
        "coupon_code",
        "note",
        "idempotency_key",
        "created_at",
        "fulfilled_at",
        "cancelled_at",
        "cancel_reason",
        "changed_by",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("coupon_code")

    @admin.display(description=gettext_lazy("note"))
    def short_note(self, obj: Redemption) -> str:
        return obj.note if len(obj.note) <= 60 else f"{obj.note[:57]}…"

    @admin.action(description=gettext_lazy("Mark the selected redemptions fulfilled"), permissions=["change"])
    def fulfil(self, request: HttpRequest, queryset: Any) -> None:
        done = 0
        for redemption in queryset:
            try:
                shop_services.redemption_fulfil(redemption=redemption, actor=request.user)
            except ServiceError as error:
                self.message_user(request, f"#{redemption.pk}: {error.message}", messages.ERROR)
                continue
            done += 1
        self.message_user(request, _("Fulfilled %(count)d redemptions.") % {"count": done})

    @admin.action(
        description=gettext_lazy("Cancel the selected redemptions and refund the points"), permissions=["change"]
    )
    def cancel_with_refund(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        form = CancelForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            cancelled = 0
            for redemption in queryset:
                try:
                    result = shop_services.redemption_cancel(
                        redemption=redemption, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                except ServiceError as error:
                    self.message_user(request, f"#{redemption.pk}: {error.message}", messages.ERROR)
                    continue
                cancelled += result.cancelled
            self.message_user(
                request, _("Cancelled %(count)d redemptions and refunded their points.") % {"count": cancelled}
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Cancel redemptions"),
            "redemptions": queryset.select_related("member", "reward"),
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "action": "cancel_with_refund",
        }
        return TemplateResponse(request, "rewards/shop/admin_cancel.html", context)


@admin.register(RewardsSettings)
class RewardsSettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """One row of settings: the list page opens it directly."""

    list_display = ["__str__", "points_expire_after_months", "warning_days", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        settings_row = RewardsSettings.load()
        return HttpResponseRedirect(reverse("admin:rewards_rewardssettings_change", args=[settings_row.pk]))


@admin.register(PointsExpiryWarning)
class PointsExpiryWarningAdmin(admin.ModelAdmin):
    list_display = ["created_at", "member", "expires_on", "covers_until", "points"]
    list_select_related = ["member"]
    search_fields = ["member__display_name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
