"""Operators' face of integrations: external identities, webhook subscriptions and the delivery log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from community import roles
from community.admin import AuditedAdminMixin
from community.errors import ServiceError
from integrations import event_types
from integrations.models import ExternalIdentity, WebhookDelivery, WebhookEvent, WebhookSubscription
from integrations.services import identities as identity_services
from integrations.services import webhooks as webhook_services
from integrations.services.merge import member_merge
from members.models import Member


class OperatorOnlyMixin:
    """Integrations are the operators' business (the role groups do not list this app's permissions)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return roles.is_operator(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.is_operator(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.is_operator(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return roles.is_operator(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.is_operator(request.user)


class MemberMergeForm(forms.Form):
    source = forms.ModelChoiceField(
        label=_("Duplicate member (id)"),
        queryset=Member.objects.all(),
        widget=forms.NumberInput,
        help_text=_("This record is emptied and removed from the program."),
    )
    target = forms.ModelChoiceField(
        label=_("Member who stays (id)"), queryset=Member.objects.all(), widget=forms.NumberInput
    )


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(OperatorOnlyMixin, AuditedAdminMixin, admin.ModelAdmin):
    change_list_template = "integrations/admin/externalidentity_change_list.html"
    list_display = ["provider", "external_id", "handle", "member", "created_at"]
    list_filter = ["provider"]
    search_fields = ["external_id", "handle", "member__display_name", "member__user__email"]
    list_select_related = ["member"]
    raw_id_fields = ["member"]
    readonly_fields = ["created_at"]

    def save_model(self, request: HttpRequest, obj: ExternalIdentity, form: Any, change: bool) -> None:
        # Through the service: its checks and its audit record (AuditedAdminMixin adds the admin's own).
        if change:
            identity_services.external_identity_update(actor=request.user, identity=obj, handle=obj.handle)
        else:
            created = identity_services.external_identity_link(
                actor=request.user,
                member=obj.member,
                provider=obj.provider,
                external_id=obj.external_id,
                handle=obj.handle,
            )
            obj.pk = created.pk
        obj._hearth_audit_before = None  # type: ignore[attr-defined]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["member", "provider", "external_id", "created_at"] if obj is not None else ["created_at"]

    def get_urls(self) -> list[Any]:
        merge = path("merge-members/", self.admin_site.admin_view(self.merge_view), name="integrations_member_merge")
        return [merge, *super().get_urls()]

    def merge_view(self, request: HttpRequest) -> HttpResponse:
        """An operator merges two member records (integrations.services.merge)."""
        if not roles.is_operator(request.user):
            raise PermissionDenied
        form = MemberMergeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                moved = member_merge(
                    actor=request.user, source=form.cleaned_data["source"], target=form.cleaned_data["target"]
                )
            except ServiceError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                self.message_user(
                    request,
                    _("Merged: %(activities)d activities and %(points)d points moved.")
                    % {"activities": moved["activities"], "points": moved["points"]},
                )
                return redirect("admin:integrations_externalidentity_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": _("Merge two member records"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "integrations/admin/merge_members.html", context)


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=_("event types"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("“*” subscribes to every event type, including ones added later."),
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "event_types", "is_active", "allow_private_network"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(event_types.WILDCARD, _("* (every event type)"))]
        choices += [(name, f"{name} — {description}") for name, (description, _keys) in event_types.EVENT_TYPES.items()]
        self.fields["event_types"].choices = choices


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(OperatorOnlyMixin, admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["name", "url", "is_active", "consecutive_failures", "disabled_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    readonly_fields = ["secret", "consecutive_failures", "disabled_at", "disabled_reason", "created_at", "updated_at"]
    actions = ["switch_on", "send_test", "rotate_secret"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The secret is made when the subscription is saved; show it from then on (the receiver needs it).
        fields = list(self.readonly_fields)
        return fields if obj is not None else [name for name in fields if name != "secret"]

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in WebhookSubscriptionForm.Meta.fields}
        try:
            if change:
                saved = webhook_services.webhook_subscription_update(actor=request.user, subscription=obj, **values)
            else:
                saved = webhook_services.webhook_subscription_create(actor=request.user, **values)
        except ServiceError as error:
            # The form already validated the URL; a refusal here is rare — tell the operator, keep the old row.
            self.message_user(request, error.message, level=messages.ERROR)
            return
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: WebhookSubscription) -> None:
        webhook_services.webhook_subscription_delete(actor=request.user, subscription=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for subscription in queryset:
            webhook_services.webhook_subscription_delete(actor=request.user, subscription=subscription)

    @admin.action(description=_("Switch on (resume waiting deliveries)"))
    def switch_on(self, request: HttpRequest, queryset: Any) -> None:
        count = 0
        for subscription in queryset.filter(is_active=False):
            webhook_services.webhook_subscription_update(actor=request.user, subscription=subscription, is_active=True)
            count += 1
        self.message_user(
            request,
            ngettext("Switched on %(count)d subscription.", "Switched on %(count)d subscriptions.", count)
            % {"count": count},
        )

    @admin.action(description=_("Send a test event"))
    def send_test(self, request: HttpRequest, queryset: Any) -> None:
        for subscription in queryset:
            webhook_services.webhook_send_test(actor=request.user, subscription=subscription)
        self.message_user(request, _("Test events queued; see the delivery log."))

    @admin.action(description=_("Rotate the signing secret"))
    def rotate_secret(self, request: HttpRequest, queryset: Any) -> None:
        for subscription in queryset:
            webhook_services.webhook_subscription_rotate_secret(actor=request.user, subscription=subscription)
        self.message_user(request, _("New secrets made; give them to the receivers."))


class ReadOnlyMixin(OperatorOnlyMixin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["type", "uuid", "version", "created_at"]
    list_filter = ["type"]
    search_fields = ["uuid"]
    readonly_fields = ["uuid", "type", "version", "data", "created_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "event",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "subscription"]
    search_fields = ["event__uuid", "subscription__name"]
    list_select_related = ["event", "subscription"]
    readonly_fields = [
        "subscription",
        "event",
        "status",
        "attempts",
        "next_attempt_at",
        "locked_until",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "last_response",
        "last_duration_ms",
        "delivered_at",
        "created_at",
    ]
    actions = ["redeliver"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Read-only rows, but the redelivery action is an operator's to use.
        actions = super().get_actions(request)
        if not roles.is_operator(request.user):
            actions.pop("redeliver", None)
        return actions

    @admin.action(description=_("Redeliver now"))
    def redeliver(self, request: HttpRequest, queryset: Any) -> None:
        count = 0
        for delivery in queryset:
            webhook_services.webhook_delivery_redeliver(actor=request.user, delivery=delivery)
            count += 1
        self.message_user(
            request,
            ngettext("Queued %(count)d delivery again.", "Queued %(count)d deliveries again.", count)
            % {"count": count},
        )
