from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from community.errors import ServiceError
from rewards.models import PointBalance, PointEntry
from rewards.services import points_reverse


@admin.register(PointEntry)
class PointEntryAdmin(admin.ModelAdmin):
    """The ledger is append-only: entries are read here and undone only by a reversing entry."""

    list_display = [
        "created_at",
        "member",
        "kind",
        "lifetime_delta",
        "spendable_delta",
        "reason",
        "rule",
        "rule_version",
        "actor",
    ]
    list_filter = ["kind", "rule"]
    search_fields = ["member__display_name", "member__user__email", "reason", "idempotency_key"]
    list_select_related = ["member", "rule", "actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["reverse_entries"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Reverse the selected entries"), permissions=["view"])
    def reverse_entries(self, request: HttpRequest, queryset: Any) -> None:
        reversed_count = 0
        for entry in queryset.select_related("member"):
            try:
                result = points_reverse(entry=entry, actor=request.user, reason=_("Reversed by an operator"))
            except ServiceError as error:
                self.message_user(request, f"{entry}: {error.message}", messages.ERROR)
                continue
            reversed_count += result.created
        self.message_user(request, _("Reversed %(count)d entries.") % {"count": reversed_count})


@admin.register(PointBalance)
class PointBalanceAdmin(admin.ModelAdmin):
    list_display = ["member", "lifetime", "spendable", "updated_at"]
    search_fields = ["member__display_name", "member__user__email"]
    list_select_related = ["member"]
    ordering = ["-lifetime"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
