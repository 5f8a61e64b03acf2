"""Triage: the feedback list with filters and bulk actions, an item's page with notes, replies and history, and
the configuration (statuses, product areas, SLA targets)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community.admin import AuditedAdminMixin
from community.errors import ServiceError
from feedback import services as feedback_services
from feedback.admin.common import action_with_form
from feedback.models import (
    Attachment,
    FeedbackItem,
    FeedbackStatus,
    InternalNote,
    Priority,
    ProductArea,
    Reply,
    SlaTarget,
    StatusChange,
)
from feedback.services.items import UNSET
from members.services import member_ensure


@admin.register(FeedbackStatus)
class FeedbackStatusAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "key", "order", "is_default", "decision", "is_closed", "is_duplicate", "is_active"]
    list_editable = ["order", "is_active"]
    ordering = ["order", "id"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Items and their history point at statuses: retire one by unticking "active" instead.
        return False


@admin.register(ProductArea)
class ProductAreaAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "is_active"]
    search_fields = ["name"]


@admin.register(SlaTarget)
class SlaTargetAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["kind", "first_response_hours", "resolution_hours"]


class SlaFilter(admin.SimpleListFilter):
    title = gettext_lazy("SLA")
    parameter_name = "sla"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("overdue", gettext_lazy("Past its first-response target")),
            ("unanswered", gettext_lazy("No response yet")),
        ]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "unanswered":
            return queryset.filter(first_response_at__isnull=True, merged_into__isnull=True)
        if self.value() == "overdue":
            now = timezone.now()
            condition = Q(pk__in=[])
            for target in SlaTarget.objects.all():
                condition |= Q(kind=target.kind, created_at__lte=now - timedelta(hours=target.first_response_hours))
            return queryset.filter(condition, first_response_at__isnull=True, merged_into__isnull=True)
        return queryset


class AssignedFilter(admin.SimpleListFilter):
    title = gettext_lazy("assignee")
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("me", gettext_lazy("Assigned to me")), ("nobody", gettext_lazy("Unassigned"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "me":
            return queryset.filter(assignee=request.user)
        if self.value() == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset


class NoteInline(admin.TabularInline):
    model = InternalNote
    extra = 1
    fields = ["body", "author", "created_at"]
    readonly_fields = ["author", "created_at"]
    verbose_name = gettext_lazy("internal note (never shown to members)")
    verbose_name_plural = gettext_lazy("internal notes (never shown to members)")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReplyInline(admin.StackedInline):
    model = Reply
    extra = 1
    fields = ["body", "author", "created_at"]
    readonly_fields = ["author", "created_at"]
    verbose_name = gettext_lazy("public reply (the submitter, voters and subscribers are notified)")
    verbose_name_plural = gettext_lazy("public replies")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    extra = 0
    fields = ["created_at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    fields = ["original_name", "kind", "content_type", "size", "width", "height", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StatusForm(forms.Form):
    status = forms.ModelChoiceField(
        label=gettext_lazy("New status"), queryset=FeedbackStatus.objects.filter(is_active=True, is_duplicate=False)
    )
    note = forms.CharField(label=gettext_lazy("Note (members see it)"), required=False, max_length=500)


class PriorityForm(forms.Form):
    priority = forms.TypedChoiceField(label=gettext_lazy("Priority"), choices=Priority.choices, coerce=int)


class MergeForm(forms.Form):
    original = forms.ModelChoiceField(
        label=gettext_lazy("Original feedback (number)"),
        queryset=FeedbackItem.objects.filter(merged_into__isnull=True),
        widget=forms.NumberInput,
    )
    note = forms.CharField(label=gettext_lazy("Note (members see it)"), required=False, max_length=400)


@admin.register(FeedbackItem)
class FeedbackItemAdmin(admin.ModelAdmin):
    """The triage list. Saving the form and every action call the feedback services (audited, notifying)."""

    list_display = [
        "id",
        "title",
        "kind",
        "status",
        "priority",
        "vote_count",
        "impact_score",
        "author",
        "assignee",
        "area",
        "created_at",
        "first_response_at",
    ]
    list_filter = [SlaFilter, AssignedFilter, "status", "kind", "priority", "area", "visibility", "source"]
    search_fields = ["title", "author__display_name", "author__user__email"]
    list_select_related = ["status", "author", "assignee", "area"]
    show_full_result_count = False
    date_hierarchy = "created_at"
    actions = ["set_status", "set_priority", "assign_to_me", "merge_into"]
    fields = [
        "title",
        "body",
        "kind",
        "author",
        "status",
        "priority",
        "assignee",
        "area",
        "visibility",
        "merged_into",
        "vote_count",
        "impact_score",
        "source",
        "app_version",
        "device",
        "page_url",
        "created_at",
        "first_response_at",
        "resolved_at",
        "accepted_at",
    ]
    readonly_fields = [
        "title",
        "body",
        "kind",
        "author",
        "merged_into",
        "vote_count",
        "impact_score",
        "source",
        "app_version",
        "device",
        "page_url",
        "created_at",
        "first_response_at",
        "resolved_at",
        "accepted_at",
    ]
    inlines = [ReplyInline, NoteInline, StatusChangeInline, AttachmentInline]
    raw_id_fields = ["assignee"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "status":
            kwargs["queryset"] = FeedbackStatus.objects.filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: FeedbackItem, form: Any, change: bool) -> None:
        current = FeedbackItem.objects.get(pk=obj.pk)
        triage: dict[str, Any] = {}
        if obj.priority != current.priority:
            triage["priority"] = obj.priority
        if obj.assignee_id != current.assignee_id:
            triage["assignee"] = obj.assignee
        if obj.area_id != current.area_id:
            triage["area"] = obj.area
        if obj.visibility != current.visibility:
            triage["visibility"] = obj.visibility
        try:
            if triage:
                feedback_services.item_triage(
                    item=current,
                    actor=request.user,
                    priority=triage.get("priority"),
                    assignee=triage.get("assignee", UNSET),
                    area=triage.get("area", UNSET),
                    visibility=triage.get("visibility"),
                )
            if obj.status_id != current.status_id:
                feedback_services.item_status_change(item=current, actor=request.user, status=obj.status)
        except ServiceError as error:
            self.message_user(request, error.message, messages.ERROR)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # New notes and replies go through their services; nothing else in the inlines is editable.
        item = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if not inline_form.has_changed() or inline_form.instance.pk or not inline_form.is_valid():
                continue
            body = inline_form.cleaned_data.get("body", "")
            if not body or inline_form.cleaned_data.get("DELETE"):
                continue
            try:
                if formset.model is InternalNote:
                    feedback_services.note_add(item=item, actor=request.user, body=body)
                elif formset.model is Reply:
                    feedback_services.reply_post(
                        item=item, author=member_ensure(user=request.user), body=body, actor=request.user
                    )
            except ServiceError as error:
                self.message_user(request, error.message, messages.ERROR)

    @admin.action(description=gettext_lazy("Change the status of the selected feedback"), permissions=["change"])
    def set_status(self, request: HttpRequest, queryset: Any) -> Any:
        def apply(form: forms.Form) -> None:
            changed = 0
            for item in queryset:
                try:
                    feedback_services.item_status_change(
                        item=item,
                        actor=request.user,
                        status=form.cleaned_data["status"],
                        note=form.cleaned_data["note"],
                    )
                    changed += 1
                except ServiceError as error:
                    self.message_user(request, f"#{item.pk}: {error.message}", messages.WARNING)
            self.message_user(request, _("Changed the status of %(count)d feedback items.") % {"count": changed})

        return action_with_form(
            self,
            request,
            queryset,
            form_class=StatusForm,
            title=_("Change the status"),
            intro=_("The submitter, voters and subscribers of each item are notified."),
            submit_label=_("Change the status"),
            apply=apply,
        )

    @admin.action(description=gettext_lazy("Set the priority of the selected feedback"), permissions=["change"])
    def set_priority(self, request: HttpRequest, queryset: Any) -> Any:
        def apply(form: forms.Form) -> None:
            for item in queryset:
                feedback_services.item_triage(item=item, actor=request.user, priority=form.cleaned_data["priority"])
            self.message_user(request, _("Priority set on %(count)d feedback items.") % {"count": queryset.count()})

        return action_with_form(
            self,
            request,
            queryset,
            form_class=PriorityForm,
            title=_("Set the priority"),
            intro=_("The impact score of each item follows its priority."),
            submit_label=_("Set the priority"),
            apply=apply,
        )

    @admin.action(description=gettext_lazy("Assign the selected feedback to me"), permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: Any) -> None:
        for item in queryset:
            feedback_services.item_triage(item=item, actor=request.user, assignee=request.user)
        self.message_user(request, _("Assigned %(count)d feedback items to you.") % {"count": queryset.count()})

    @admin.action(description=gettext_lazy("Merge the selected feedback into an original"), permissions=["change"])
    def merge_into(self, request: HttpRequest, queryset: Any) -> Any:
        def apply(form: forms.Form) -> None:
            merged = 0
            for item in queryset.order_by("pk"):
                try:
                    feedback_services.item_merge(
                        duplicate=item,
                        original=form.cleaned_data["original"],
                        actor=request.user,
                        note=form.cleaned_data["note"],
                    )
                    merged += 1
                except ServiceError as error:
                    self.message_user(request, f"#{item.pk}: {error.message}", messages.WARNING)
            self.message_user(request, _("Merged %(count)d feedback items.") % {"count": merged})

        return action_with_form(
            self,
            request,
            queryset,
            form_class=MergeForm,
            title=_("Merge duplicates"),
            intro=_(
                "Votes, subscribers and the authors of the selected items carry over to the original, once each; "
                "the selected items are marked duplicates."
            ),
            submit_label=_("Merge"),
            apply=apply,
        )
