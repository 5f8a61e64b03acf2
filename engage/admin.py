"""Operator admin for events, content, operator messages, retention settings, job runs and the follow-up inbox.

Workflows (registering, check-in, draws, sending, working tasks) go through the services in admin actions.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from community.admin import AuditedAdminMixin, ReadOnlyAdmin
from community.errors import ServiceError
from community.models import FollowUpTask
from engage.models import (
    Announcement,
    Answer,
    Article,
    Event,
    EventRegistration,
    JobRun,
    KnowledgeCategory,
    LotteryDraw,
    OperatorMessage,
    Question,
    RetentionSettings,
    Topic,
    TopicReply,
)
from engage.services import content as content_services
from engage.services import events as event_services
from engage.services import inbox as inbox_services
from engage.services import messages as message_services


class RegistrationInline(admin.TabularInline):
    model = EventRegistration
    extra = 0
    can_delete = False
    fields = ["member", "status", "check_in_code", "queued_at", "checked_in_at"]
    readonly_fields = fields
    ordering = ["status", "queued_at", "id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "kind", "status", "starts_at", "capacity", "min_level"]
    list_filter = ["kind", "status"]
    search_fields = ["title", "location"]
    list_select_related = ["min_level"]
    date_hierarchy = "starts_at"
    inlines = [RegistrationInline]
    readonly_fields = ["reminded_at", "created_by", "created_at"]
    actions = ["publish", "cancel_events", "draw_lottery"]

    def save_model(self, request: HttpRequest, obj: Event, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if change and form is not None and "capacity" in form.changed_data:
            event_services.event_waitlist_promote(event=obj)  # more seats: the waitlist moves up

    @admin.action(description=_("Publish the selected events"), permissions=["change"])
    def publish(self, request: HttpRequest, queryset: Any) -> None:
        for event in queryset.filter(status=Event.Status.DRAFT):
            event_services.event_publish(event=event, actor=request.user)
        self.message_user(request, _("The selected events are published."))

    @admin.action(description=_("Cancel the selected events (registrants are told)"), permissions=["change"])
    def cancel_events(self, request: HttpRequest, queryset: Any) -> None:
        for event in queryset.exclude(status=Event.Status.CANCELLED):
            event_services.event_cancel(event=event, actor=request.user)
        self.message_user(request, _("The selected events are cancelled."))

    @admin.action(description=_("Draw the selected lotteries"), permissions=["change"])
    def draw_lottery(self, request: HttpRequest, queryset: Any) -> None:
        for event in queryset:
            try:
                event_services.lottery_draw(event=event, actor=request.user)
            except ServiceError as error:
                self.message_user(request, f"{event}: {error.message}", level=messages.ERROR)
            else:
                self.message_user(request, _("Drew “%(event)s”.") % {"event": event})


@admin.register(EventRegistration)
class EventRegistrationAdmin(ReadOnlyAdmin):
    list_display = ["event", "member", "status", "check_in_code", "queued_at", "checked_in_at"]
    list_filter = ["status"]
    search_fields = ["member__display_name", "check_in_code", "event__title"]
    list_select_related = ["event", "member"]


@admin.register(LotteryDraw)
class LotteryDrawAdmin(ReadOnlyAdmin):
    list_display = ["event", "seed", "drawn_at", "drawn_by"]
    list_select_related = ["event", "drawn_by"]


@admin.register(Announcement)
class AnnouncementAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "is_published", "pinned", "published_at"]
    list_filter = ["is_published", "pinned"]
    search_fields = ["title"]
    exclude = ["created_by"]

    def save_model(self, request: HttpRequest, obj: Announcement, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Topic)
class TopicAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "is_published", "is_open", "created_at"]
    list_filter = ["is_published", "is_open"]
    search_fields = ["title"]
    exclude = ["created_by"]

    def save_model(self, request: HttpRequest, obj: Topic, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class HideActionMixin:
    @admin.action(description=_("Hide the selected items"), permissions=["change"])
    def hide(self, request: HttpRequest, queryset: Any) -> None:
        for item in queryset.filter(hidden_at__isnull=True):
            content_services.content_hide(actor=request.user, target=item)
        self.message_user(request, _("Hidden."))  # type: ignore[attr-defined]


@admin.register(TopicReply)
class TopicReplyAdmin(HideActionMixin, ReadOnlyAdmin):
    list_display = ["topic", "member", "created_at", "hidden_at"]
    list_select_related = ["topic", "member"]
    actions = ["hide"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.has_perm("engage.change_topicreply")


@admin.register(Question)
class QuestionAdmin(HideActionMixin, ReadOnlyAdmin):
    list_display = ["title", "member", "created_at", "answered_at", "flagged_at", "hidden_at"]
    list_filter = ["flagged_at"]
    search_fields = ["title"]
    list_select_related = ["member"]
    actions = ["hide"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.has_perm("engage.change_question")


@admin.register(Answer)
class AnswerAdmin(HideActionMixin, ReadOnlyAdmin):
    list_display = ["question", "member", "created_at", "hidden_at"]
    list_select_related = ["question", "member"]
    actions = ["hide"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.has_perm("engage.change_answer")


@admin.register(KnowledgeCategory)
class KnowledgeCategoryAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "sort_order"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Article)
class ArticleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "category", "is_faq", "is_published", "updated_at"]
    list_filter = ["category", "is_faq", "is_published"]
    search_fields = ["title", "body"]
    list_select_related = ["category"]


@admin.register(OperatorMessage)
class OperatorMessageAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["subject", "segment", "status", "scheduled_for", "sent_at", "recipients_count"]
    list_filter = ["status", "segment"]
    filter_horizontal = ["tags"]
    readonly_fields = ["status", "sent_at", "recipients_count", "created_by", "created_at"]
    actions = ["preview", "test_send", "send_now"]

    def save_model(self, request: HttpRequest, obj: OperatorMessage, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        if obj.status != OperatorMessage.Status.SENT:
            # A future moment schedules it (the beat job sends it then); none keeps it a draft.
            obj.status = (
                OperatorMessage.Status.SCHEDULED
                if obj.scheduled_for and obj.scheduled_for > timezone.now()
                else OperatorMessage.Status.DRAFT
            )
        super().save_model(request, obj, form, change)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status == OperatorMessage.Status.SENT:
            return False
        return super().has_change_permission(request, obj)

    @admin.action(description=_("Preview the selected message"), permissions=["view"])
    def preview(self, request: HttpRequest, queryset: Any) -> TemplateResponse | None:
        previews = [(message, message_services.message_preview(message=message)) for message in queryset[:5]]
        return TemplateResponse(
            request,
            "engage/admin/message_preview.html",
            {**self.admin_site.each_context(request), "previews": previews, "title": _("Preview")},
        )

    @admin.action(description=_("Send a test to myself"), permissions=["change"])
    def test_send(self, request: HttpRequest, queryset: Any) -> None:
        for message in queryset:
            try:
                message_services.message_test_send(message=message, actor=request.user)
            except ServiceError as error:
                self.message_user(request, error.message, level=messages.ERROR)
                return
        self.message_user(request, _("A test is in your inbox."))

    @admin.action(description=_("Send the selected messages now"), permissions=["change"])
    def send_now(self, request: HttpRequest, queryset: Any) -> None:
        total = 0
        for message in queryset.exclude(status=OperatorMessage.Status.SENT):
            total += message_services.message_send(message=message, actor=request.user).recipients_count
        self.message_user(
            request, ngettext("Sent to %(count)d member.", "Sent to %(count)d members.", total) % {"count": total}
        )


@admin.register(RetentionSettings)
class RetentionSettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "quiet_window_days", "quiet_min_active_days", "quiet_silent_days", "unanswered_hours"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RetentionSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ["job", "run_date", "status", "started_at", "finished_at", "attempts", "summary"]
    list_filter = ["job", "status"]
    date_hierarchy = "run_date"


@admin.register(FollowUpTask)
class FollowUpTaskAdmin(ReadOnlyAdmin):
    """The operator inbox in the admin; work tasks with the actions (or on /inbox/)."""

    list_display = ["title", "kind", "status", "member", "assignee", "created_at", "snoozed_until"]
    list_filter = ["status", "kind"]
    search_fields = ["title", "member__display_name"]
    list_select_related = ["member", "assignee"]
    actions = ["assign_to_me", "snooze_a_day", "mark_done"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.has_perm("community.change_followuptask")

    @admin.action(description=_("Assign to me"), permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: Any) -> None:
        for task in queryset:
            inbox_services.task_assign(task=task, assignee=request.user, actor=request.user)
        self.message_user(request, _("The tasks are yours."))

    @admin.action(description=_("Snooze for a day"), permissions=["change"])
    def snooze_a_day(self, request: HttpRequest, queryset: Any) -> None:
        for task in queryset.exclude(status=FollowUpTask.Status.DONE):
            inbox_services.task_snooze(task=task, until=timezone.now() + timedelta(days=1), actor=request.user)
        self.message_user(request, _("Snoozed until tomorrow."))

    @admin.action(description=_("Mark done (outcome: handled)"), permissions=["change"])
    def mark_done(self, request: HttpRequest, queryset: Any) -> None:
        for task in queryset:
            inbox_services.task_complete(task=task, outcome=str(_("Handled")), actor=request.user)
        self.message_user(request, _("The tasks are done."))
