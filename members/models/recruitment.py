"""Recruitment (招募): rounds with capacity and quotas, the screening questionnaire and its scoring rules,
applications with their answers, usage data and scorecard, interviews, decision templates, the exit survey and
the segmentation thresholds."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models.accounts import Member


class Round(models.Model):
    """A recruitment round (招募批次): who may apply when, how many get in, and how applicants are scored."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    description = models.TextField(_("description"), blank=True)
    opens_at = models.DateTimeField(_("opens at"))
    closes_at = models.DateTimeField(_("closes at"))
    capacity = models.PositiveIntegerField(_("capacity"), help_text=_("How many applicants may be accepted."))
    auto_accept_threshold = models.DecimalField(
        _("auto-accept threshold"),
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Applications scoring at least this are accepted automatically while places remain."),
    )
    usage_points = models.DecimalField(
        _("usage points"),
        max_digits=8,
        decimal_places=2,
        default=40,
        help_text=_("Points for the applicant with the highest usage; the others get their percentile's share."),
    )
    top_usage_percent = models.PositiveSmallIntegerField(
        _("top usage percent"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Applicants in this top share by usage are flagged (the 80/20 rule)."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-opens_at", "id"]
        verbose_name = _("recruitment round")
        verbose_name_plural = _("recruitment rounds")
        constraints = [
            models.CheckConstraint(condition=Q(closes_at__gt=models.F("opens_at")), name="round_closes_after_opens")
        ]

    def __str__(self) -> str:
        return self.name

    def is_open(self, now=None) -> bool:
        now = now or timezone.now()
        return self.opens_at <= now < self.closes_at


class RoundQuota(models.Model):
    """At most `places` accepted applicants of one segment in a round (e.g. 20 students among 100 seed users)."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="quotas", verbose_name=_("round"))
    segment = models.CharField(_("target segment"), max_length=64)
    places = models.PositiveIntegerField(_("places"))

    class Meta:
        ordering = ["segment"]
        verbose_name = _("segment quota")
        verbose_name_plural = _("segment quotas")
        constraints = [models.UniqueConstraint(fields=["round", "segment"], name="round_quota_unique_segment")]

    def __str__(self) -> str:
        return f"{self.segment}: {self.places}"


class Question(models.Model):
    """A screening question with its scoring rule (points per choice, number ranges, knock-outs)."""

    class Kind(models.TextChoices):
        SINGLE = "single", _("Single choice")
        MULTIPLE = "multiple", _("Multiple choice")
        NUMBER = "number", _("Number")
        SCALE = "scale", _("Scale")
        SHORT_TEXT = "short_text", _("Short text")
        LONG_TEXT = "long_text", _("Long text")

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="questions", verbose_name=_("round"))
    position = models.PositiveIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    text = models.CharField(_("question"), max_length=300)
    help_text = models.CharField(_("help text"), max_length=300, blank=True)
    required = models.BooleanField(_("required"), default=True)
    weight = models.DecimalField(
        _("weight"),
        max_digits=6,
        decimal_places=2,
        default=1,
        help_text=_("The question's points are multiplied by this."),
    )
    scale_max = models.PositiveSmallIntegerField(
        _("scale maximum"), default=5, validators=[MinValueValidator(2), MaxValueValidator(10)]
    )
    points_if_answered = models.DecimalField(
        _("points if answered"),
        max_digits=6,
        decimal_places=2,
        default=0,
        help_text=_("Text questions: points for any answer. Scales: points per step."),
    )

    class Meta:
        ordering = ["round", "position", "id"]
        verbose_name = _("screening question")
        verbose_name_plural = _("screening questions")

    def __str__(self) -> str:
        return self.text

    @property
    def has_choices(self) -> bool:
        return self.kind in (self.Kind.SINGLE, self.Kind.MULTIPLE)


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices", verbose_name=_("question"))
    position = models.PositiveIntegerField(_("position"), default=0)
    label = models.CharField(_("label"), max_length=200)
    points = models.DecimalField(_("points"), max_digits=6, decimal_places=2, default=0)
    knockout = models.BooleanField(_("knock-out"), default=False, help_text=_("Choosing this disqualifies."))
    segment = models.CharField(
        _("segment"), max_length=64, blank=True, help_text=_("Choosing this puts the applicant in this segment.")
    )

    class Meta:
        ordering = ["question", "position", "id"]
        verbose_name = _("choice")
        verbose_name_plural = _("choices")

    def __str__(self) -> str:
        return self.label


class NumberRange(models.Model):
    """Points for a number (or scale) answer in [minimum, maximum); an open end has no bound."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="ranges", verbose_name=_("question"))
    minimum = models.DecimalField(_("from"), max_digits=12, decimal_places=2, null=True, blank=True)
    maximum = models.DecimalField(_("below"), max_digits=12, decimal_places=2, null=True, blank=True)
    points = models.DecimalField(_("points"), max_digits=6, decimal_places=2, default=0)
    knockout = models.BooleanField(_("knock-out"), default=False)

    class Meta:
        ordering = ["question", "minimum", "id"]
        verbose_name = _("number range")
        verbose_name_plural = _("number ranges")

    def __str__(self) -> str:
        low = "-inf" if self.minimum is None else self.minimum
        high = "inf" if self.maximum is None else self.maximum
        return f"[{low}, {high})"

    def contains(self, value) -> bool:
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value < self.maximum)


class Application(models.Model):
    """A candidate's application (申请) to a round."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        SCREENING = "screening", _("Screening")
        INTERVIEW = "interview", _("Interview")
        ACCEPTED = "accepted", _("Accepted")
        WAITLISTED = "waitlisted", _("Waitlisted")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Stage(models.IntegerChoices):
        """The furthest funnel stage reached; never goes back."""

        APPLIED = 0, _("Applied")
        SCREENED = 1, _("Screened")
        INTERVIEWED = 2, _("Interviewed")
        ACCEPTED = 3, _("Accepted")

    class Reason(models.TextChoices):
        FIT = "fit", _("Not the profile this round is looking for")
        CAPACITY = "capacity", _("The round is full")
        INCOMPLETE = "incomplete", _("Incomplete application")
        KNOCKED_OUT = "knocked_out", _("Does not meet a requirement")
        OTHER = "other", _("Other")

    class Source(models.TextChoices):
        PORTAL = "portal", _("Portal")
        API = "api", _("API")

    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="applications", verbose_name=_("round"))
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="applications", verbose_name=_("member"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    stage = models.PositiveSmallIntegerField(_("stage reached"), choices=Stage.choices, default=Stage.APPLIED)
    segment = models.CharField(_("segment"), max_length=64, blank=True)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="en")
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.PORTAL)
    submitted_at = models.DateTimeField(_("submitted at"), default=timezone.now, db_index=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decision_reason = models.CharField(_("decision reason"), max_length=16, choices=Reason.choices, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        constraints = [
            # One active application per person per round: a withdrawn one does not block applying again.
            models.UniqueConstraint(
                fields=["round", "member"], condition=~Q(status="withdrawn"), name="application_one_active_per_round"
            )
        ]
        indexes = [models.Index(fields=["round", "status"], name="application_round_status")]

    def __str__(self) -> str:
        return f"{self.member} → {self.round}"


class Answer(models.Model):
    """One answer; `choice_ids` for choice questions, `number` for number and scale, `text` for text."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    choice_ids = models.JSONField(_("choices"), default=list, blank=True)
    number = models.DecimalField(_("number"), max_digits=12, decimal_places=2, null=True, blank=True)
    text = models.TextField(_("text"), blank=True)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        constraints = [models.UniqueConstraint(fields=["application", "question"], name="answer_one_per_question")]

    def __str__(self) -> str:
        return f"{self.application_id}/{self.question_id}"


class UsageMetric(models.Model):
    """Product-usage data for one application, imported by operators (CSV or API)."""

    application = models.OneToOneField(Application, on_delete=models.CASCADE, related_name="usage")
    active_days_30 = models.PositiveSmallIntegerField(
        _("active days in the last 30"), validators=[MaxValueValidator(30)], default=0
    )
    session_minutes = models.DecimalField(_("average session (minutes)"), max_digits=8, decimal_places=2, default=0)
    tenure_days = models.PositiveIntegerField(_("tenure (days)"), default=0)
    paid = models.BooleanField(_("paying customer"), default=False)
    willing_to_pay = models.BooleanField(_("willing to pay"), default=False)
    content_created = models.PositiveIntegerField(_("content created"), default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("usage metric")
        verbose_name_plural = _("usage metrics")
        constraints = [models.CheckConstraint(condition=Q(active_days_30__lte=30), name="usage_active_days_at_most_30")]

    def __str__(self) -> str:
        return f"usage of {self.application_id}"


class Scorecard(models.Model):
    """An application's score, recomputed in bulk when rules or data change; `breakdown` explains every point."""

    application = models.OneToOneField(Application, on_delete=models.CASCADE, related_name="scorecard")
    questionnaire_score = models.DecimalField(_("questionnaire score"), max_digits=10, decimal_places=2, default=0)
    usage_value = models.FloatField(_("usage value"), default=0)
    usage_percentile = models.FloatField(_("usage percentile"), default=0)
    usage_score = models.DecimalField(_("usage score"), max_digits=10, decimal_places=2, default=0)
    total = models.DecimalField(_("total score"), max_digits=10, decimal_places=2, default=0, db_index=True)
    top_usage = models.BooleanField(_("top usage"), default=False)
    knocked_out = models.BooleanField(_("knocked out"), default=False)
    breakdown = models.JSONField(_("breakdown"), default=dict, blank=True)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("scorecard")
        verbose_name_plural = _("scorecards")

    def __str__(self) -> str:
        return f"{self.total}"


class Interview(models.Model):
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="interviews", verbose_name=_("application")
    )
    scheduled_at = models.DateTimeField(_("scheduled at"))
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), default=30)
    location = models.CharField(_("where or link"), max_length=255, blank=True)
    interviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("interviewer"),
    )
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        ordering = ["scheduled_at", "id"]
        verbose_name = _("interview")
        verbose_name_plural = _("interviews")

    def __str__(self) -> str:
        return f"{self.application} @ {self.scheduled_at:%Y-%m-%d %H:%M}"


class DecisionTemplate(models.Model):
    """The message an applicant gets for a decision, per language; operators edit the wording.

    Placeholders: {{ name }}, {{ round }}, {{ reason }}, {{ note }}.
    """

    class Kind(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        WAITLISTED = "waitlisted", _("Waitlisted")
        REJECTED = "rejected", _("Rejected")

    kind = models.CharField(_("decision"), max_length=16, choices=Kind.choices)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))

    class Meta:
        ordering = ["kind", "language"]
        verbose_name = _("decision template")
        verbose_name_plural = _("decision templates")
        constraints = [models.UniqueConstraint(fields=["kind", "language"], name="decision_template_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.language})"


class UsageImport(models.Model):
    """A CSV upload of usage data: previewed (report per row) first, applied only when an operator confirms."""

    class Status(models.TextChoices):
        PREVIEW = "preview", _("Previewed")
        APPLIED = "applied", _("Applied")

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="usage_imports", verbose_name=_("round"))
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    rows = models.JSONField(_("valid rows"), default=list, blank=True)
    report = models.JSONField(_("report"), default=list, blank=True)
    error = models.TextField(_("file error"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PREVIEW)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("usage import")
        verbose_name_plural = _("usage imports")

    def __str__(self) -> str:
        return f"{self.filename or self.pk} ({self.get_status_display()})"


class ExitSurvey(models.Model):
    """Why a member left the program, asked when they leave from the portal."""

    class Reason(models.TextChoices):
        NO_TIME = "no_time", _("I don't have the time")
        NOT_VALUABLE = "not_valuable", _("The program is not worth it for me")
        STOPPED_USING = "stopped_using", _("I stopped using the product")
        TOO_MANY_MESSAGES = "too_many_messages", _("Too many messages")
        PRIVACY = "privacy", _("Privacy concerns")
        OTHER = "other", _("Something else")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="exit_surveys", verbose_name=_("member"))
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)
    detail = models.TextField(_("anything else"), max_length=2000, blank=True)
    would_return = models.BooleanField(_("might come back"), default=False)
    created_at = models.DateTimeField(_("left at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("exit survey")
        verbose_name_plural = _("exit surveys")

    def __str__(self) -> str:
        return f"{self.member} ({self.get_reason_display()})"


class SegmentationSettings(models.Model):
    """The one row of thresholds: activities in the last `window_days` make a member active or loyal."""

    window_days = models.PositiveSmallIntegerField(_("window (days)"), default=30, validators=[MinValueValidator(1)])
    active_min = models.PositiveIntegerField(_("activities to count as active"), default=5)
    loyal_min = models.PositiveIntegerField(_("activities to count as loyal"), default=30)

    class Meta:
        verbose_name = _("segmentation settings")
        verbose_name_plural = _("segmentation settings")
        constraints = [
            models.CheckConstraint(condition=Q(loyal_min__gt=models.F("active_min")), name="segment_loyal_above_active")
        ]

    def __str__(self) -> str:
        return str(_("Segmentation thresholds"))
