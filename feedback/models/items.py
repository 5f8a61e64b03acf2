"""Feedback items and what hangs off them: statuses, product areas, attachments, notes, replies, history, votes."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

__all__ = [
    "Attachment",
    "FeedbackItem",
    "FeedbackStatus",
    "InternalNote",
    "Kind",
    "Priority",
    "ProductArea",
    "Reply",
    "SlaTarget",
    "StatusChange",
    "Subscription",
    "Vote",
]

TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 20_000


class Kind(models.TextChoices):
    BUG = "bug", _("Bug")
    IDEA = "idea", _("Idea")
    QUESTION = "question", _("Question")
    COMPLAINT = "complaint", _("Complaint")
    PRAISE = "praise", _("Praise")


class Priority(models.IntegerChoices):
    LOW = 0, _("Low")
    NORMAL = 1, _("Normal")
    HIGH = 2, _("High")
    URGENT = 3, _("Urgent")


class FeedbackStatus(models.Model):
    """A triage status operators configure. Names are English msgids, shown translated when the catalogue has them.

    `decision` says what reaching the status means: accepted (the rewards hook fires the first time), declined,
    or nothing yet. `is_closed` ends the loop (resolution time is measured to the first closed status).
    """

    class Decision(models.TextChoices):
        NONE = "", _("Not decided")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")

    key = models.SlugField(_("key"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_default = models.BooleanField(_("initial status"), default=False, help_text=_("New feedback starts here."))
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices, blank=True, default="")
    is_closed = models.BooleanField(_("closed"), default=False)
    is_duplicate = models.BooleanField(
        _("marks duplicates"), default=False, help_text=_("Feedback merged into another gets this status.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("feedback status")
        verbose_name_plural = _("feedback statuses")
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="feedback_one_default"),
            models.UniqueConstraint(
                fields=["is_duplicate"], condition=Q(is_duplicate=True), name="feedback_one_duplicate_status"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return gettext(self.name) if self.name else self.key

    @property
    def is_accepted(self) -> bool:
        return self.decision == self.Decision.ACCEPTED


class ProductArea(models.Model):
    """A part of the product feedback is about (a product-area tag)."""

    name = models.CharField(_("name"), max_length=80, unique=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("product area")
        verbose_name_plural = _("product areas")

    def __str__(self) -> str:
        return self.name


class SlaTarget(models.Model):
    """How soon feedback of one kind gets its first response and its resolution."""

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, unique=True)
    first_response_hours = models.PositiveIntegerField(
        _("first response within (hours)"), validators=[MinValueValidator(1)]
    )
    resolution_hours = models.PositiveIntegerField(
        _("resolution within (hours)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )

    class Meta:
        ordering = ["kind"]
        verbose_name = _("SLA target")
        verbose_name_plural = _("SLA targets")
        constraints = [
            models.CheckConstraint(
                condition=Q(first_response_hours__gte=1), name="feedback_sla_first_response_positive"
            )
        ]

    def __str__(self) -> str:
        return self.get_kind_display()


class FeedbackItem(models.Model):
    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Public")
        PRIVATE = "private", _("Private")

    class Source(models.TextChoices):
        PORTAL = "portal", _("Portal")
        API = "api", _("API")
        ADMIN = "admin", _("Admin")

    author = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="feedback_items", verbose_name=_("submitted by")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=TITLE_MAX_LENGTH)
    body = models.TextField(_("description"), max_length=BODY_MAX_LENGTH, help_text=_("Markdown."))
    area = models.ForeignKey(
        ProductArea,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="items",
        verbose_name=_("product area"),
    )
    status = models.ForeignKey(FeedbackStatus, on_delete=models.PROTECT, related_name="items", verbose_name=_("status"))
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_feedback",
        verbose_name=_("assignee"),
    )
    visibility = models.CharField(_("visibility"), max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.PORTAL)
    app_version = models.CharField(_("app version"), max_length=64, blank=True)
    device = models.CharField(_("device"), max_length=120, blank=True)
    page_url = models.CharField(_("page URL"), max_length=500, blank=True, help_text=_("An http(s) address."))
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="duplicates",
        verbose_name=_("merged into"),
    )
    # Denormalised so the list sorts by them with an index; changed only by conditional F() updates.
    vote_count = models.PositiveIntegerField(_("votes"), default=0)
    submitter_weight = models.PositiveIntegerField(_("submitter weight"), default=0)
    impact_score = models.IntegerField(_("impact"), default=0)
    created_at = models.DateTimeField(_("submitted at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        constraints = [
            models.CheckConstraint(condition=~Q(merged_into=models.F("id")), name="feedback_not_merged_into_itself"),
            models.CheckConstraint(condition=Q(priority__lte=3), name="feedback_priority_known"),
        ]
        indexes = [
            # The list pages walk one of these in order (merged duplicates are never listed) and filter as they go.
            models.Index(
                fields=["-vote_count", "-id"], condition=Q(merged_into__isnull=True), name="feedback_open_votes"
            ),
            models.Index(
                fields=["-impact_score", "-id"], condition=Q(merged_into__isnull=True), name="feedback_open_impact"
            ),
            models.Index(
                fields=["-created_at", "-id"], condition=Q(merged_into__isnull=True), name="feedback_open_new"
            ),
            models.Index(fields=["author", "-created_at"], name="feedback_author_new"),
            models.Index(fields=["created_at"], name="feedback_created"),
            models.Index(fields=["first_response_at", "created_at"], name="feedback_unanswered"),
            # The full-text index on the title is PostgreSQL-only: created by migration 0002 on that vendor.
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def body_html(self):
        from community.markdown import render_markdown

        return render_markdown(self.body)


class Attachment(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        LOG = "log", _("Log file")

    item = models.ForeignKey(FeedbackItem, on_delete=models.CASCADE, related_name="attachments")
    uploaded_by = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to="feedback/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=60)
    size = models.PositiveIntegerField(_("size (bytes)"))
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.original_name


class InternalNote(models.Model):
    """Operators' notes on an item; never shown to members."""

    item = models.ForeignKey(FeedbackItem, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(_("note"), max_length=BODY_MAX_LENGTH)
    created_at = models.DateTimeField(_("written at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("internal note")
        verbose_name_plural = _("internal notes")

    def __str__(self) -> str:
        return self.body[:60]


class Reply(models.Model):
    """An operator's public answer on an item."""

    item = models.ForeignKey(FeedbackItem, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(
        "members.Member",
        null=True,
        on_delete=models.SET_NULL,
        related_name="feedback_replies",
        verbose_name=_("author"),
    )
    body = models.TextField(_("reply"), max_length=BODY_MAX_LENGTH, help_text=_("Markdown."))
    created_at = models.DateTimeField(_("written at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        indexes = [models.Index(fields=["item", "created_at"], name="feedback_reply_item")]

    def __str__(self) -> str:
        return self.body[:60]

    @property
    def body_html(self):
        from community.markdown import render_markdown

        return render_markdown(self.body)


class StatusChange(models.Model):
    """One step of an item's public history."""

    item = models.ForeignKey(FeedbackItem, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.ForeignKey(FeedbackStatus, null=True, on_delete=models.PROTECT, related_name="+")
    to_status = models.ForeignKey(FeedbackStatus, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        indexes = [models.Index(fields=["item", "created_at"], name="feedback_status_change_item")]

    def __str__(self) -> str:
        return f"#{self.item_id} → {self.to_status_id}"


class Vote(models.Model):
    item = models.ForeignKey(FeedbackItem, on_delete=models.CASCADE, related_name="votes")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="feedback_votes")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("vote")
        verbose_name_plural = _("votes")
        constraints = [models.UniqueConstraint(fields=["member", "item"], name="feedback_one_vote_per_member")]
        indexes = [models.Index(fields=["item", "member"], name="feedback_vote_item")]

    def __str__(self) -> str:
        return f"+1 #{self.item_id}"


class Subscription(models.Model):
    item = models.ForeignKey(FeedbackItem, on_delete=models.CASCADE, related_name="subscriptions")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="feedback_subscriptions")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [models.UniqueConstraint(fields=["member", "item"], name="feedback_one_subscription")]
        indexes = [models.Index(fields=["item", "member"], name="feedback_subscription_item")]

    def __str__(self) -> str:
        return f"#{self.item_id}"
