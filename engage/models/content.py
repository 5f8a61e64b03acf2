from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member


class Announcement(models.Model):
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), help_text=_("Markdown, shown to members."))
    is_published = models.BooleanField(_("published"), default=False)
    pinned = models.BooleanField(_("pinned"), default=False)
    published_at = models.DateTimeField(_("published at"), default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("announcement")
        verbose_name_plural = _("announcements")
        ordering = ["-pinned", "-published_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Topic(models.Model):
    """A discussion an operator starts (话题引导); members reply."""

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), help_text=_("Markdown, shown to members."))
    is_open = models.BooleanField(_("open for replies"), default=True)
    is_published = models.BooleanField(_("published"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("discussion topic")
        verbose_name_plural = _("discussion topics")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class TopicReply(models.Model):
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="replies")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="topic_replies")
    body = models.TextField(_("body"), max_length=10000)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    hidden_at = models.DateTimeField(_("hidden at"), null=True, blank=True)

    class Meta:
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["topic", "created_at"], name="topic_reply_time")]

    def __str__(self) -> str:
        return f"{self.topic_id}:{self.member_id}"


class KnowledgeCategory(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("knowledge base category")
        verbose_name_plural = _("knowledge base categories")
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    """A knowledge-base article; `is_faq` puts it on the FAQ list."""

    category = models.ForeignKey(KnowledgeCategory, on_delete=models.PROTECT, related_name="articles")
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), help_text=_("Markdown, shown to members."))
    is_faq = models.BooleanField(_("FAQ"), default=False)
    is_published = models.BooleanField(_("published"), default=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["category__sort_order", "title", "id"]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    """A member's question; other members answer. Flagged when unanswered for too long."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="questions")
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), max_length=10000, blank=True)
    created_at = models.DateTimeField(_("asked at"), default=timezone.now, db_index=True)
    answered_at = models.DateTimeField(_("first answered at"), null=True, blank=True)
    flagged_at = models.DateTimeField(_("flagged unanswered at"), null=True, blank=True)
    hidden_at = models.DateTimeField(_("hidden at"), null=True, blank=True)

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at"], condition=Q(answered_at__isnull=True), name="question_unanswered")
        ]

    def __str__(self) -> str:
        return self.title


class Answer(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="answers")
    body = models.TextField(_("body"), max_length=10000)
    created_at = models.DateTimeField(_("answered at"), default=timezone.now)
    hidden_at = models.DateTimeField(_("hidden at"), null=True, blank=True)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.question_id}:{self.member_id}"
