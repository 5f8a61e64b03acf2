from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member


class Event(models.Model):
    """A program event: an online discussion, a meetup, a live session, a challenge or a lottery."""

    class Kind(models.TextChoices):
        DISCUSSION = "discussion", _("Online discussion")
        MEETUP = "meetup", _("Offline meetup")
        LIVE = "live", _("Live session")
        CHALLENGE = "challenge", _("Challenge")
        LOTTERY = "lottery", _("Lottery")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        CANCELLED = "cancelled", _("Cancelled")

    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.MEETUP)
    description = models.TextField(_("description"), blank=True, help_text=_("Markdown, shown to members."))
    location = models.CharField(_("location"), max_length=255, blank=True)
    online_url = models.URLField(_("online link"), blank=True)
    starts_at = models.DateTimeField(_("starts at"), db_index=True)
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveIntegerField(
        _("capacity"), null=True, blank=True, help_text=_("Seats; leave empty for no limit. Later sign-ups wait.")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    min_level = models.ForeignKey(
        "rewards.Level",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("minimum level"),
    )
    segments = models.JSONField(
        _("segments"), default=list, blank=True, help_text=_("Only members of these segments may register; empty: all.")
    )
    reminder_hours = models.PositiveSmallIntegerField(_("reminder (hours before)"), default=24)
    reminded_at = models.DateTimeField(_("reminders sent at"), null=True, blank=True)
    winners_count = models.PositiveIntegerField(_("winners (lottery)"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="event_ends_after_start"),
            models.CheckConstraint(condition=Q(capacity__isnull=True) | Q(capacity__gt=0), name="event_capacity_pos"),
        ]

    def __str__(self) -> str:
        return self.title


class EventRegistration(models.Model):
    """A member's seat (or place in the waitlist) for an event, with the code shown at the door."""

    class Status(models.TextChoices):
        REGISTERED = "registered", _("Registered")
        WAITLISTED = "waitlisted", _("Waitlisted")
        CANCELLED = "cancelled", _("Cancelled")

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="registrations")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="event_registrations")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    # Waitlist order: set when the member joins (or rejoins) the waitlist; promotion takes the earliest.
    queued_at = models.DateTimeField(_("queued at"), default=timezone.now)
    check_in_code = models.CharField(_("check-in code"), max_length=12, unique=True)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    created_at = models.DateTimeField(_("registered at"), default=timezone.now)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("event registration")
        verbose_name_plural = _("event registrations")
        ordering = ["queued_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "member"], name="event_registration_unique"),
            models.CheckConstraint(
                condition=Q(checked_in_at__isnull=True) | Q(status="registered"), name="event_checkin_needs_seat"
            ),
        ]
        indexes = [models.Index(fields=["event", "status", "queued_at"], name="event_reg_queue")]

    def __str__(self) -> str:
        return f"{self.event_id}:{self.member_id} {self.status}"


class LotteryDraw(models.Model):
    """A lottery's draw, kept so anyone can recompute it: winners are the entrants with the smallest
    sha256(f"{seed}:{member_id}") hex digests, `winners_count` of them."""

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="draw")
    seed = models.CharField(_("seed"), max_length=64)
    algorithm = models.CharField(_("algorithm"), max_length=64, default="sha256(seed:member_id) ascending")
    entrants = models.JSONField(_("entrants"), default=list)
    winners = models.JSONField(_("winners"), default=list)
    drawn_at = models.DateTimeField(_("drawn at"), default=timezone.now)
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("lottery draw")
        verbose_name_plural = _("lottery draws")

    def __str__(self) -> str:
        return f"{self.event_id} @ {self.drawn_at:%Y-%m-%d}"
