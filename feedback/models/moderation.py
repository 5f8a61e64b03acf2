"""Reports (举报) of content or members, and the moderation actions taken on members (警告 / 禁言 / 移出社群)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["ModerationAction", "Report"]

NOTE_MAX_LENGTH = 2000


class Report(models.Model):
    class Reason(models.TextChoices):
        SPAM = "spam", _("Spam")
        ADS = "ads", _("Advertising")
        ABUSE = "abuse", _("Abuse")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACTIONED = "actioned", _("Action taken")
        DISMISSED = "dismissed", _("Dismissed")

    reporter = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="reports_filed")
    target_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    target_id = models.CharField(_("target id"), max_length=64)
    target = GenericForeignKey("target_type", "target_id")
    # Whose content it is (the member reported, or the author of the content), when known.
    target_member = models.ForeignKey(
        "members.Member",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reports_received",
        verbose_name=_("reported member"),
    )
    reason = models.CharField(_("reason"), max_length=8, choices=Reason.choices)
    note = models.TextField(_("note"), blank=True, max_length=NOTE_MAX_LENGTH)
    target_excerpt = models.CharField(_("content"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    resolution_note = models.TextField(_("resolution"), blank=True)
    created_at = models.DateTimeField(_("reported at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        constraints = [
            models.UniqueConstraint(
                fields=["reporter", "target_type", "target_id"],
                condition=Q(status="open"),
                name="feedback_one_open_report_per_target",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="feedback_report_queue")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.target_excerpt[:60]}"


class ModerationAction(models.Model):
    class Kind(models.TextChoices):
        WARN = "warn", _("Warning")
        MUTE = "mute", _("Mute")
        REMOVE = "remove", _("Removal from the program")

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="moderation_actions")
    kind = models.CharField(_("action"), max_length=8, choices=Kind.choices)
    reason = models.TextField(_("reason"), max_length=NOTE_MAX_LENGTH)
    muted_until = models.DateTimeField(_("muted until"), null=True, blank=True)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("taken at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("moderation action")
        verbose_name_plural = _("moderation actions")
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="mute") | Q(muted_until__isnull=False), name="feedback_mute_has_an_end"
            )
        ]
        indexes = [models.Index(fields=["member", "kind", "muted_until"], name="feedback_mute_lookup")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.member}"
