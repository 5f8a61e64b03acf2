"""Admin for badges (audited edits), badge awards (granted and revoked through the services), and the frozen
leaderboard snapshots (read-only), with buttons to rebuild the live boards and freeze finished periods."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from community.admin import AuditedAdminMixin, ReadOnlyAdmin
from community.errors import ServiceError
from rewards.models import Badge, BadgeAward, LeaderboardSnapshot, LeaderboardSnapshotRow
from rewards.services import badges as badge_services
from rewards.services import leaderboards as leaderboard_services

SNAPSHOT_ROWS_SHOWN = 100


@admin.register(Badge)
class BadgeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "tier", "is_title", "criteria_type", "is_active", "holders"]
    list_filter = ["tier", "is_title", "is_active"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "tier", "is_title", "is_active"]}),
        (_("Look"), {"fields": ["image", "emoji", "colour"]}),
        (
            _("How it is earned"),
            {
                "fields": ["criteria"],
                "description": _(
                    'JSON, one of: {"type": "verb_count", "verb": "question_answered", "count": 10, '
                    '"window_days": 30} · {"type": "streak", "days": 7} · {"type": "level_reached", '
                    '"level_name": "Core"} or {"type": "level_reached", "threshold": 1000} · '
                    '{"type": "leaderboard_rank", "period_kind": "month", "top_n": 10} · {"type": "manual"} '
                    "(operators grant it)."
                ),
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(holder_count=Count("awards", filter=Q(awards__revoked_at__isnull=True)))
        )

    @admin.display(description=_("holders"), ordering="holder_count")
    def holders(self, badge: Badge) -> int:
        return badge.holder_count

    @admin.display(description=_("criteria"))
    def criteria_type(self, badge: Badge) -> str:
        return badge.criteria_type

    def get_readonly_fields(self, request: HttpRequest, obj: Badge | None = None) -> Any:
        # The slug is in every shared assertion's address: fixed once the badge has been awarded.
        if obj is not None and obj.awards.exists():
            return ["slug"]
        return []

    def get_prepopulated_fields(self, request: HttpRequest, obj: Badge | None = None) -> dict[str, tuple[str, ...]]:
        # A read-only slug cannot be prepopulated (the admin would look for its form field).
        if "slug" in self.get_readonly_fields(request, obj):
            return {}
        return super().get_prepopulated_fields(request, obj)


class BadgeGrantForm(forms.ModelForm):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    class Meta:
        model = BadgeAward
        fields = ["badge", "member"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        badge, member = cleaned.get("badge"), cleaned.get("member")
        if badge is not None and not badge.is_active:
            self.add_error("badge", _("This badge is not active."))
        if (
            badge is not None
            and member is not None
            and BadgeAward.objects.filter(badge=badge, member=member, revoked_at__isnull=True).exists()
        ):
            self.add_error("member", _("This member already holds the badge."))
        return cleaned

    def validate_unique(self) -> None:
        """Uniqueness is the service's job (it answers with a clear message)."""


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


@admin.register(BadgeAward)
class BadgeAwardAdmin(admin.ModelAdmin):
    """Awards are granted (add) and revoked (action) through the badge services, which audit both."""

    list_display = ["badge", "member", "awarded_at", "actor", "revoked_at", "revoked_reason"]
    list_filter = ["badge", ("revoked_at", admin.EmptyFieldListFilter), "badge__tier"]
    search_fields = ["member__display_name", "member__user__email", "badge__name", "badge__slug"]
    list_select_related = ["badge", "member", "actor"]
    raw_id_fields = ["member"]
    date_hierarchy = "awarded_at"
    actions = ["revoke_awards"]
    readonly_fields = [
        "badge",
        "member",
        "awarded_at",
        "actor",
        "evidence",
        "revoked_at",
        "revoked_reason",
        "revoked_by",
        "assertion_uuid",
    ]

    def get_form(self, request: HttpRequest, obj: BadgeAward | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = BadgeGrantForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: BadgeAward | None = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: BadgeAward | None = None) -> Any:
        if obj is None:
            return ["badge", "member", "reason"]
        return self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: BadgeAward, form: Any, change: bool) -> None:
        award = badge_services.badge_grant(
            badge=obj.badge, member=obj.member, actor=request.user, reason=form.cleaned_data.get("reason", "")
        )
        obj.pk = award.pk
        obj.awarded_at = award.awarded_at
        obj.assertion_uuid = award.assertion_uuid

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except ServiceError as error:  # e.g. granted by someone else a moment ago, or a self-grant
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @admin.action(description=_("Revoke the selected awards…"), permissions=["view"])
    def revoke_awards(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        if not request.user.has_perm("rewards.change_badgeaward"):
            raise PermissionDenied
        form = RevokeForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            revoked = 0
            for award in queryset.select_related("badge", "member"):
                try:
                    badge_services.badge_revoke(award=award, actor=request.user, reason=form.cleaned_data["reason"])
                except ServiceError as error:
                    self.message_user(request, f"{award.badge} / {award.member}: {error.message}", messages.WARNING)
                    continue
                revoked += 1
            self.message_user(request, _("Revoked %(count)d awards.") % {"count": revoked})
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Revoke badge awards"),
            "form": form,
            "awards": queryset.select_related("badge", "member"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "rewards/badges/admin_revoke.html", context)


class SnapshotRowInline(admin.TabularInline):
    model = LeaderboardSnapshotRow
    fields = ["rank", "member", "points"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("top rows")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("member").filter(rank__lte=SNAPSHOT_ROWS_SHOWN)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LeaderboardSnapshot)
class LeaderboardSnapshotAdmin(ReadOnlyAdmin):
    """Frozen boards never change. The list page has buttons to rebuild the live boards from the ledger and to
    freeze every finished period not frozen yet."""

    list_display = ["period_kind", "period_key", "segment", "member_count", "frozen_at"]
    list_filter = ["period_kind", "segment"]
    search_fields = ["period_key", "segment"]
    inlines = [SnapshotRowInline]
    change_list_template = "rewards/leaderboards/admin_change_list.html"

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "rebuild/",
                self.admin_site.admin_view(require_POST(self.rebuild_view)),
                name="rewards_leaderboards_rebuild",
            ),
            path(
                "freeze/",
                self.admin_site.admin_view(require_POST(self.freeze_view)),
                name="rewards_leaderboards_freeze",
            ),
        ]
        return own + super().get_urls()

    def _may_run(self, request: HttpRequest) -> None:
        if not request.user.has_perm("rewards.add_leaderboardsnapshot"):
            raise PermissionDenied

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        may_run = request.user.has_perm("rewards.add_leaderboardsnapshot")
        return super().changelist_view(request, {**(extra_context or {}), "may_run": may_run})

    def rebuild_view(self, request: HttpRequest) -> HttpResponse:
        self._may_run(request)
        result = leaderboard_services.leaderboard_rebuild(actor=request.user)
        if result.boards:
            self.message_user(
                request,
                _("Rebuilt %(boards)d live boards for %(members)d members in %(seconds).2f s.")
                % {"boards": result.boards, "members": result.members, "seconds": result.seconds},
            )
        else:
            self.message_user(request, _("No Redis is configured: the live boards are read from the ledger directly."))
        return HttpResponseRedirect(reverse("admin:rewards_leaderboardsnapshot_changelist"))

    def freeze_view(self, request: HttpRequest) -> HttpResponse:
        self._may_run(request)
        frozen = leaderboard_services.leaderboard_freeze_finished()
        self.message_user(request, _("Froze %(count)d snapshots.") % {"count": len(frozen)})
        return HttpResponseRedirect(reverse("admin:rewards_leaderboardsnapshot_changelist"))
