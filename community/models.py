from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Activity(models.Model):
    """One member action on the activity stream: what point rules, badges, levels, KPIs and retention read."""

    # Indexed by the composite indexes that lead with it (below), not by one of its own: every award and every
    # product event inserts a row here, and each index is written on each insert.
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="activities", db_index=False)
    verb = models.CharField(_("verb"), max_length=64)
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    # The day in the member's own time zone, so "active on a day" and check-ins match what the member saw.
    local_date = models.DateField(_("local date"))
    # The sender's idempotency key (e.g. an integration's event id): the same key records once (a partial unique
    # constraint below: most activities have no key, and their rows then add nothing to its index).
    dedupe_key = models.CharField(_("deduplication key"), max_length=128, null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-occurred_at"], name="activity_member_time"),
            # With the verb, the rollups read a member's days from the index alone, already in (member, day) order:
            # a full rebuild of the analytics tables groups the stream without sorting it.
            models.Index(fields=["member", "local_date"], include=["verb"], name="activity_member_day_verb"),
            models.Index(fields=["local_date", "verb"], name="activity_day_verb"),
            models.Index(fields=["verb", "-occurred_at"], name="activity_verb_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=Q(dedupe_key__isnull=False), name="activity_dedupe_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.verb} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    class EmailStatus(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        SKIPPED = "skipped", _("not sent (preference)")
        FAILED = "failed", _("failed")
        DIGEST = "digest", _("waiting for the digest")
        BOUNCED = "bounced", _("not sent (address bounced)")

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("kind"), max_length=64)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    context = models.JSONField(_("context"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    show_in_portal = models.BooleanField(_("shown in the portal"), default=True)
    email_status = models.CharField(
        _("email status"), max_length=10, choices=EmailStatus.choices, default=EmailStatus.PENDING
    )
    email_attempts = models.PositiveSmallIntegerField(_("email attempts"), default=0)
    email_sent_at = models.DateTimeField(_("email sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="notification_member_time"),
            models.Index(
                fields=["member"], condition=Q(read_at__isnull=True, show_in_portal=True), name="notification_unread"
            ),
            models.Index(fields=["email_status"], condition=Q(email_status="pending"), name="notification_email_due"),
            models.Index(fields=["member"], condition=Q(email_status="digest"), name="notification_digest_due"),
        ]

    def __str__(self) -> str:
        return self.title


class NotificationPreference(models.Model):
    """A member's choice of channels for one kind of notification; absent means the kind's defaults."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(_("kind"), max_length=64)
    in_portal = models.BooleanField(_("in the portal"), default=True)
    email = models.BooleanField(_("by email"), default=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [models.UniqueConstraint(fields=["member", "kind"], name="notification_preference_unique")]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.kind}"


class NotificationEmailSetting(models.Model):
    """How a member's address takes email: each message, or a daily/weekly digest; and whether it bounced."""

    class Frequency(models.TextChoices):
        IMMEDIATE = "immediate", _("Each message as it comes")
        DAILY = "daily", _("A daily digest")
        WEEKLY = "weekly", _("A weekly digest")

    member = models.OneToOneField("members.Member", on_delete=models.CASCADE, related_name="email_setting")
    frequency = models.CharField(
        _("email frequency"), max_length=10, choices=Frequency.choices, default=Frequency.IMMEDIATE
    )
    bounced_at = models.DateTimeField(_("address bounced at"), null=True, blank=True)
    bounce_reason = models.CharField(_("bounce reason"), max_length=255, blank=True)
    last_digest_at = models.DateTimeField(_("last digest sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("email setting")
        verbose_name_plural = _("email settings")

    def __str__(self) -> str:
        return f"{self.member_id}:{self.frequency}"


class AuditLog(models.Model):
    """A state change made by someone (operator, member or integration), with before and after."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(_("action"), max_length=100, db_index=True)
    object_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("audit record")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr}"


class ApiToken(models.Model):
    """A named, revocable credential for an integration. Only a hash of the secret is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    # What the token may do ("members:read", "events:write", "points:award" …); the integrations app defines them.
    scopes = models.JSONField(_("scopes"), default=list, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"], condition=Q(revoked_at__isnull=True), name="api_token_active_name_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class FollowUpTask(models.Model):
    """An operator work item (跟进任务) raised by a job or a workflow: a quiet member, a leaver, an overdue item.

    Every job files its tasks here with a `dedupe_key`, so running a job twice never files the same task twice.
    The operator inbox lists them; services in `community.services` create them, the inbox's services work them.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        SNOOZED = "snoozed", _("Snoozed")
        DONE = "done", _("Done")

    kind = models.CharField(_("kind"), max_length=64, db_index=True)
    title = models.CharField(_("title"), max_length=200)
    detail = models.TextField(_("detail"), blank=True)
    member = models.ForeignKey(
        "members.Member",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="follow_up_tasks",
        verbose_name=_("member"),
    )
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_up_tasks",
        verbose_name=_("assignee"),
    )
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    dedupe_key = models.CharField(_("deduplication key"), max_length=160, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="followup_status_created")]

    def __str__(self) -> str:
        return self.title
