from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Tag


class OperatorMessage(models.Model):
    """A message from the team to a segment and/or tagged members: previewed, test-sent, sent now or later."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENT = "sent", _("Sent")

    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"))
    segment = models.CharField(_("segment"), max_length=16, choices=Member.Segment.choices, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="+", verbose_name=_("tags"))
    url = models.CharField(_("link"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    recipients_count = models.PositiveIntegerField(_("recipients"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("operator message")
        verbose_name_plural = _("operator messages")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject
