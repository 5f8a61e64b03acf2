from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from community import services
from community.models import (
    Activity,
    ApiToken,
    AuditLog,
    Notification,
    NotificationEmailSetting,
    NotificationPreference,
)


def admin_snapshot(obj: Model) -> dict[str, Any]:
    """An audit snapshot of `obj` as the admin edits it: its fields and its many-to-many links (tags, groups)."""
    snapshot = services.model_snapshot(obj)
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            snapshot[field.name] = sorted(getattr(obj, field.name).values_list("pk", flat=True))
    return snapshot


class AuditedAdminMixin:
    """Every save and delete made in the admin is written to the audit log with before/after.

    A save is recorded once the object's many-to-many fields are saved too (the admin always calls
    `save_related` after `save_model`), so a change of tags or groups shows in the record.
    """

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        before = admin_snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change and obj.pk else None
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        obj._hearth_audit_before = before  # type: ignore[attr-defined]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        obj = form.instance
        action = f"{obj._meta.label_lower}.{'change' if change else 'add'}.admin"
        services.audit_record(
            actor=request.user,
            action=action,
            obj=obj,
            before=getattr(obj, "_hearth_audit_before", None),
            after=admin_snapshot(obj),
        )

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        services.audit_record(
            actor=request.user, action=f"{obj._meta.label_lower}.delete.admin", obj=obj, before=admin_snapshot(obj)
        )
        super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            services.audit_record(
                actor=request.user, action=f"{obj._meta.label_lower}.delete.admin", obj=obj, before=admin_snapshot(obj)
            )
        super().delete_queryset(request, queryset)  # type: ignore[misc]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "member", "verb", "target_type", "target_id", "local_date"]
    list_filter = ["verb", "local_date"]
    search_fields = ["member__display_name", "member__user__email", "verb"]
    list_select_related = ["member", "target_type"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "kind", "title", "read_at", "email_status"]
    list_filter = ["kind", "email_status"]
    search_fields = ["member__display_name", "title"]
    list_select_related = ["member"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdmin):
    list_display = ["member", "kind", "in_portal", "email"]
    list_filter = ["kind"]
    list_select_related = ["member"]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_repr", "action", "actor__email"]
    list_select_related = ["actor", "object_type"]
    readonly_fields = ["created_at", "actor", "action", "object_type", "object_id", "object_repr", "before", "after"]


class ApiTokenAdminForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("What the token may do. Choose none for full access."),
    )

    class Meta:
        model = ApiToken
        fields = ["scopes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from integrations.scopes import choices

        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(name, f"{name} — {label}") for name, label in choices()]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenAdminForm
    list_display = ["name", "user", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__email", "prefix"]
    list_select_related = ["user"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    actions = ["revoke"]
    exclude = ["key_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are created by their owner, who is the only one to see the secret

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Only the scopes are editable here, and they change through the audited service.
        services.api_token_scopes_set(actor=request.user, token=obj, scopes=form.cleaned_data.get("scopes") or [])

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            services.api_token_revoke(actor=request.user, token=token)
            revoked += 1
        self.message_user(
            request,
            ngettext("Revoked %(count)d token.", "Revoked %(count)d tokens.", revoked) % {"count": revoked},
        )


@admin.register(NotificationEmailSetting)
class NotificationEmailSettingAdmin(ReadOnlyAdmin):
    """Each member's e-mail frequency and bounce state; clear a bounce once the address is fixed."""

    list_display = ["member", "frequency", "bounced_at", "bounce_reason", "last_digest_at"]
    list_filter = ["frequency", "bounced_at"]
    search_fields = ["member__display_name", "member__user__email"]
    list_select_related = ["member"]
    actions = ["clear_bounce"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.has_perm("community.change_notificationemailsetting")

    @admin.action(description=_("Clear the bounce (the address works again)"), permissions=["change"])
    def clear_bounce(self, request: HttpRequest, queryset: Any) -> None:
        from community import notifications

        for setting in queryset.filter(bounced_at__isnull=False).select_related("member"):
            notifications.email_bounce_clear(member=setting.member, actor=request.user)
        self.message_user(request, _("Bounces cleared."))
