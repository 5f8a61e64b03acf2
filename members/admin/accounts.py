from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from community import services
from community.admin import AuditedAdminMixin
from community.errors import ServiceError
from members.models import Member, Tag, User
from members.services import member_ensure, member_remove


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    # Only a superuser hands out superuser status or permissions outside the staff roles.
    superuser_only_fields = ("is_superuser", "user_permissions")

    def get_readonly_fields(self, request: Any, obj: User | None = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += [name for name in self.superuser_only_fields if name not in readonly]
        return readonly

    def has_change_permission(self, request: Any, obj: User | None = None) -> bool:
        # Staff who are not superusers may see a superuser's account but not change it (nor its password).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: Any, obj: User | None = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs: Any, request: Any) -> Any:
        # "Delete selected" asks this before confirming and before deleting: refuse a selection with a superuser.
        if not request.user.is_superuser and any(user.is_superuser for user in objs):
            raise PermissionDenied
        return super().get_deleted_objects(objs, request)

    def save_model(self, request: Any, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            member_ensure(user=obj, actor=request.user)

    def user_change_password(self, request: Any, id: str, form_url: str = "") -> HttpResponse:
        """The admin's set-password page, audited (never with the hash) like every other admin change."""
        with transaction.atomic():
            user = self.get_object(request, unquote(id))
            old_hash = user.password if user is not None else None
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and user is not None:
                user.refresh_from_db(fields=["password"])
                if user.password != old_hash:
                    services.audit_record(
                        actor=request.user,
                        action="members.user.password_change.admin",
                        obj=user,
                        after={"usable_password": user.has_usable_password()},
                    )
        return response


@admin.register(Tag)
class TagAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]


class MemberActionForm(helpers.ActionForm):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


@admin.register(Member)
class MemberAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["display_name", "email", "status", "segment", "age_band", "occupation", "locale", "joined_at"]
    list_filter = ["status", "segment", "age_band", "locale", "tags"]
    search_fields = ["display_name", "user__email", "occupation", "interests", "needs"]
    list_select_related = ["user"]
    autocomplete_fields = ["tags"]
    readonly_fields = ["user", "joined_at", "status", "left_at", "segment", "segment_changed_at"]
    action_form = MemberActionForm
    actions = ["remove_from_program"]
    fieldsets = (
        (None, {"fields": ("user", "display_name", "avatar", "bio", "locale", "time_zone", "tags", "joined_at")}),
        (_("Persona"), {"fields": ("age_band", "occupation", "interests", "needs")}),
        (_("Program"), {"fields": ("status", "left_at", "segment", "segment_changed_at")}),
    )

    @admin.display(description=_("email address"), ordering="user__email")
    def email(self, obj: Member) -> Any:
        return obj.user.email

    @admin.action(description=_("Remove from the program (give the reason next to the action)"))
    def remove_from_program(self, request: HttpRequest, queryset: Any) -> None:
        reason = request.POST.get("reason", "")
        removed = 0
        for member in queryset:
            try:
                member_remove(member=member, actor=request.user, reason=reason)
                removed += 1
            except ServiceError as error:
                self.message_user(request, f"{member}: {error.message}", messages.WARNING)
        if removed:
            self.message_user(
                request,
                ngettext("%(count)d member removed.", "%(count)d members removed.", removed) % {"count": removed},
            )
