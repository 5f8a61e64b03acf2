"""Badges and honorary titles, and who holds them.

A badge's `criteria` is a small JSON rule evaluated against the activity stream, levels and frozen leaderboards:

- ``{"type": "verb_count", "verb": "question_answered", "count": 10, "window_days": 30}`` (window optional)
- ``{"type": "streak", "days": 7}`` — consecutive local days with a check-in
- ``{"type": "level_reached", "level_name": "Core"}`` or ``{"type": "level_reached", "threshold": 1000}``
- ``{"type": "leaderboard_rank", "period_kind": "month", "top_n": 10}`` — on frozen snapshots
- ``{"type": "manual"}`` — only an operator grants it
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

__all__ = ["Badge", "BadgeAward", "BadgeTier", "CriteriaType"]

# Slugs the portal's URLs use for their own pages under /rewards/badges/.
RESERVED_SLUGS = frozenset({"ob", "mine"})
MAX_CRITERIA_NUMBER = 1_000_000
STREAK_VERB = "checked_in"
ACTIVE_BADGES_CACHE_KEY = "rewards:badges:active:v2"
# Readable names of the activity verbs badges usually count; any other verb is shown as written.
VERB_LABELS = {
    "checked_in": _("check in"),
    "question_answered": _("answer a question"),
    "feedback_submitted": _("submit feedback"),
    "feedback_accepted": _("have feedback accepted"),
    "event_attended": _("attend an event"),
    "survey_answered": _("answer a survey"),
    "badge_earned": _("earn a badge"),
}


class BadgeTier(models.TextChoices):
    BRONZE = "bronze", _("bronze")
    SILVER = "silver", _("silver")
    GOLD = "gold", _("gold")


class CriteriaType(models.TextChoices):
    VERB_COUNT = "verb_count", _("actions counted")
    STREAK = "streak", _("check-in streak")
    LEVEL_REACHED = "level_reached", _("level reached")
    LEADERBOARD_RANK = "leaderboard_rank", _("leaderboard rank")
    MANUAL = "manual", _("granted by an operator")


_ALLOWED_KEYS = {
    CriteriaType.VERB_COUNT: {"verb", "count", "window_days"},
    CriteriaType.STREAK: {"days", "verb"},
    CriteriaType.LEVEL_REACHED: {"level_name", "threshold"},
    CriteriaType.LEADERBOARD_RANK: {"period_kind", "top_n", "segment"},
    CriteriaType.MANUAL: set(),
}


def _whole_number(criteria: dict[str, Any], key: str, *, minimum: int, required: bool = True) -> None:
    value = criteria.get(key)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_CRITERIA_NUMBER:
        raise ValidationError(
            _("“%(key)s” must be a whole number from %(min)d to %(max)d."),
            params={"key": key, "min": minimum, "max": MAX_CRITERIA_NUMBER},
        )


def _text(criteria: dict[str, Any], key: str, *, max_length: int, required: bool = True) -> None:
    value = criteria.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise ValidationError(
            _("“%(key)s” must be text of 1 to %(max)d characters."), params={"key": key, "max": max_length}
        )


def validate_badge_criteria(value: Any) -> None:
    """Refuse criteria the evaluator cannot run, with a message an operator can act on."""
    if not isinstance(value, dict):
        raise ValidationError(_("Criteria must be a JSON object with a “type”."))
    kind = value.get("type")
    if kind not in CriteriaType.values:
        raise ValidationError(
            _("Unknown criteria type %(type)s; choose one of %(choices)s."),
            params={"type": repr(kind), "choices": ", ".join(CriteriaType.values)},
        )
    unknown = sorted(set(value) - {"type"} - _ALLOWED_KEYS[CriteriaType(kind)])
    if unknown:
        raise ValidationError(
            _("Unexpected keys for %(type)s: %(keys)s."), params={"type": kind, "keys": ", ".join(unknown)}
        )
    if kind == CriteriaType.VERB_COUNT:
        _text(value, "verb", max_length=64)
        _whole_number(value, "count", minimum=1)
        _whole_number(value, "window_days", minimum=1, required=False)
    elif kind == CriteriaType.STREAK:
        _whole_number(value, "days", minimum=1)
        _text(value, "verb", max_length=64, required=False)
    elif kind == CriteriaType.LEVEL_REACHED:
        if ("level_name" in value) == ("threshold" in value):
            raise ValidationError(_("Give either “level_name” or “threshold” (lifetime points), not both."))
        _text(value, "level_name", max_length=60, required=False)
        _whole_number(value, "threshold", minimum=1, required=False)
    elif kind == CriteriaType.LEADERBOARD_RANK:
        if value.get("period_kind") not in ("month", "week", "day"):
            raise ValidationError(_("“period_kind” must be month, week or day (finished periods are frozen)."))
        _whole_number(value, "top_n", minimum=1)
        _text(value, "segment", max_length=64, required=False)


def criteria_explained(criteria: dict[str, Any]) -> str:
    """The criteria in a sentence a member understands, in the active language."""
    kind = criteria.get("type")
    if kind == CriteriaType.VERB_COUNT:
        count = criteria.get("count", 0)
        verb = str(VERB_LABELS.get(criteria.get("verb", ""), criteria.get("verb", "")))
        if criteria.get("window_days"):
            return ngettext(
                "Do this %(count)d time within %(days)d days: %(verb)s.",
                "Do this %(count)d times within %(days)d days: %(verb)s.",
                count,
            ) % {"verb": verb, "count": count, "days": criteria["window_days"]}
        return ngettext("Do this %(count)d time: %(verb)s.", "Do this %(count)d times: %(verb)s.", count) % {
            "verb": verb,
            "count": count,
        }
    if kind == CriteriaType.STREAK:
        days = criteria.get("days", 0)
        return ngettext("Check in %(days)d day in a row.", "Check in %(days)d days in a row.", days) % {"days": days}
    if kind == CriteriaType.LEVEL_REACHED:
        if criteria.get("level_name"):
            return gettext("Reach the level “%(level)s”.") % {"level": gettext(criteria["level_name"])}
        return gettext("Earn %(points)d lifetime points.") % {"points": criteria.get("threshold", 0)}
    if kind == CriteriaType.LEADERBOARD_RANK:
        periods = {"month": gettext("a month"), "week": gettext("a week"), "day": gettext("a day")}
        return gettext("Finish %(period)s in the top %(top)d of the leaderboard.") % {
            "period": periods.get(criteria.get("period_kind"), criteria.get("period_kind")),
            "top": criteria.get("top_n", 0),
        }
    return gettext("Granted by the community team.")


def validate_slug_not_reserved(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(_("“%(slug)s” is reserved; choose another slug."), params={"slug": value})


class Badge(models.Model):
    """A badge (or honorary title such as 超级用户) and the rule that earns it."""

    slug = models.SlugField(
        _("slug"),
        max_length=64,
        unique=True,
        validators=[validate_slug_not_reserved],
        help_text=_("Part of the badge's public address; never change it once awarded."),
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True, help_text=_("Markdown, shown to members."))
    image = models.ImageField(
        _("image"),
        upload_to="badges/",
        blank=True,
        help_text=_("Square PNG or JPEG, at least 90 px. Without one, the emoji on the colour is used."),
    )
    emoji = models.CharField(_("emoji"), max_length=8, default="🏅")
    colour = models.CharField(
        _("colour"),
        max_length=7,
        default="#d9480f",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a colour like #d9480f."))],
    )
    tier = models.CharField(_("tier"), max_length=6, choices=BadgeTier.choices, default=BadgeTier.BRONZE)
    is_title = models.BooleanField(
        _("honorary title"), default=False, help_text=_("Shown as a title next to the member's name (e.g. 社区达人).")
    )
    criteria = models.JSONField(
        _("criteria"),
        default=dict,
        validators=[validate_badge_criteria],
        help_text=_('e.g. {"type": "streak", "days": 7} or {"type": "manual"}.'),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("badge")
        verbose_name_plural = _("badges")
        ordering = ["-is_title", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def criteria_type(self) -> str:
        return str(self.criteria.get("type", "")) if isinstance(self.criteria, dict) else ""

    @property
    def is_manual(self) -> bool:
        return self.criteria_type == CriteriaType.MANUAL

    def criteria_explained(self) -> str:
        return criteria_explained(self.criteria if isinstance(self.criteria, dict) else {})


def _new_salt() -> str:
    return secrets.token_hex(8)


class BadgeAward(models.Model):
    """A member holds a badge. Revoking keeps the row (and its public assertion answers “revoked”)."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="badge_awards")
    badge = models.ForeignKey(Badge, on_delete=models.PROTECT, related_name="awards")
    awarded_at = models.DateTimeField(_("awarded at"), default=timezone.now)
    # Who granted it by hand; empty when the member earned it by meeting the criteria.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("granted by"),
    )
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("reason for revoking"), max_length=200, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    # The public Open Badges assertion's id: stable for the life of the award.
    assertion_uuid = models.UUIDField(_("assertion id"), default=uuid.uuid4, unique=True, editable=False)
    # Salt for the hashed recipient e-mail in the assertion, so the address is not published.
    recipient_salt = models.CharField(max_length=32, default=_new_salt, editable=False)

    class Meta:
        verbose_name = _("badge award")
        verbose_name_plural = _("badge awards")
        ordering = ["-awarded_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "badge"], condition=Q(revoked_at__isnull=True), name="badge_award_active_once"
            )
        ]
        indexes = [
            models.Index(fields=["badge", "-awarded_at"], name="badge_award_badge_time"),
            models.Index(fields=["member", "-awarded_at"], name="badge_award_member_time"),
        ]

    def __str__(self) -> str:
        return f"{self.badge_id} → {self.member_id}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
