"""Surveys (问卷调查): NPS, CSAT, choice and text questions, targeted at segments or tags, answered once."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["Survey", "SurveyAnswer", "SurveyQuestion", "SurveyResponse"]


class Survey(models.Model):
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, help_text=_("Markdown, shown to members."))
    opens_at = models.DateTimeField(_("opens at"), default=timezone.now)
    closes_at = models.DateTimeField(_("closes at"), null=True, blank=True)
    is_published = models.BooleanField(_("published"), default=False)
    # Empty segments and no tags: everyone. Otherwise a member matches by segment or by any of the tags.
    target_segments = models.JSONField(_("target segments"), default=list, blank=True)
    target_tags = models.ManyToManyField("members.Tag", blank=True, related_name="+", verbose_name=_("target tags"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-opens_at", "-id"]
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__isnull=True) | Q(closes_at__gt=models.F("opens_at")),
                name="feedback_survey_closes_after_opening",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def is_open_at(self, moment) -> bool:
        return self.is_published and self.opens_at <= moment and (self.closes_at is None or moment < self.closes_at)


class SurveyQuestion(models.Model):
    class Kind(models.TextChoices):
        NPS = "nps", _("NPS (0-10)")
        CSAT = "csat", _("Satisfaction (1-5)")
        CHOICE = "choice", _("Choice")
        TEXT = "text", _("Text")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    prompt = models.CharField(_("question"), max_length=300)
    choices = models.JSONField(
        _("choices"), default=list, blank=True, help_text=_("For a choice question: the options.")
    )
    required = models.BooleanField(_("required"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("survey question")
        verbose_name_plural = _("survey questions")

    def __str__(self) -> str:
        return self.prompt


class SurveyResponse(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="survey_responses")
    submitted_at = models.DateTimeField(_("submitted at"), default=timezone.now)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        constraints = [models.UniqueConstraint(fields=["survey", "member"], name="feedback_one_response_per_member")]
        indexes = [models.Index(fields=["submitted_at"], name="feedback_response_time")]

    def __str__(self) -> str:
        return f"{self.survey_id}/{self.member_id}"


class SurveyAnswer(models.Model):
    response = models.ForeignKey(SurveyResponse, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(SurveyQuestion, on_delete=models.CASCADE, related_name="answers")
    number = models.SmallIntegerField(_("score"), null=True, blank=True)
    text = models.TextField(_("answer"), blank=True, max_length=5000)

    class Meta:
        verbose_name = _("survey answer")
        verbose_name_plural = _("survey answers")
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="feedback_one_answer_per_question"),
            models.CheckConstraint(
                condition=Q(number__isnull=True) | Q(number__gte=0, number__lte=10), name="feedback_answer_score_range"
            ),
        ]

    def __str__(self) -> str:
        return str(self.number) if self.number is not None else self.text[:60]
