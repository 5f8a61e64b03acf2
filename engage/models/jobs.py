from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RetentionSettings(models.Model):
    """The thresholds the retention jobs use; one row (pk=1), edited in the admin."""

    quiet_window_days = models.PositiveSmallIntegerField(
        _("look-back window (days)"), default=90, validators=[MinValueValidator(1), MaxValueValidator(730)]
    )
    quiet_min_active_days = models.PositiveSmallIntegerField(
        _("active on at least (days)"), default=5, validators=[MinValueValidator(1)]
    )
    quiet_silent_days = models.PositiveSmallIntegerField(
        _("silent for (days)"), default=14, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    unanswered_hours = models.PositiveSmallIntegerField(
        _("question unanswered after (hours)"), default=48, validators=[MinValueValidator(1)]
    )

    class Meta:
        verbose_name = _("retention settings")
        verbose_name_plural = _("retention settings")

    def __str__(self) -> str:
        return str(_("Retention settings"))


class JobRun(models.Model):
    """One run of a scheduled job for one day: the unique (job, day) makes a repeated run a no-op."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    job = models.CharField(_("job"), max_length=64)
    run_date = models.DateField(_("day"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=1)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["job", "run_date"], name="job_run_once_per_day")]

    def __str__(self) -> str:
        return f"{self.job} {self.run_date}"
