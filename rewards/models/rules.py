from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

__all__ = ["PointRule"]


class PointRule(models.Model):
    """Which activity verb earns (or costs) how many points, with caps. Editing bumps `version`; ledger entries
    keep the version they were awarded under, so history is never rescored."""

    name = models.CharField(_("name"), max_length=100)
    verb = models.CharField(_("activity verb"), max_length=64, db_index=True)
    description = models.TextField(
        _("description"), blank=True, help_text=_("Shown to members under “Ways to earn points”. Markdown.")
    )
    points = models.IntegerField(_("points"), help_text=_("Positive to earn, negative to deduct."))
    daily_cap = models.PositiveIntegerField(
        _("max awards per day"), null=True, blank=True, help_text=_("Counted in the member's own time zone.")
    )
    weekly_cap = models.PositiveIntegerField(
        _("max awards per week"),
        null=True,
        blank=True,
        help_text=_("Counted in the member's own time zone; weeks start on Monday."),
    )
    cooldown_seconds = models.PositiveIntegerField(
        _("cooldown (seconds)"), default=0, help_text=_("Minimum time between two awards of this rule to a member.")
    )
    first_time_only = models.BooleanField(
        _("first time only"), default=False, help_text=_("Award only the first time a member does this.")
    )
    conditions = models.JSONField(
        _("conditions"),
        default=dict,
        blank=True,
        help_text=_(
            'Values the activity\'s data must have, e.g. {"category": "bug"}; a list means any of its values, '
            'e.g. {"category": ["bug", "idea"]}.'
        ),
    )
    active_from = models.DateTimeField(_("active from"), null=True, blank=True)
    active_until = models.DateTimeField(_("active until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("point rule")
        verbose_name_plural = _("point rules")
        ordering = ["verb", "name"]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="point_rule_points_non_zero"),
            models.CheckConstraint(
                condition=Q(points__gte=-1_000_000, points__lte=1_000_000), name="point_rule_points_bounded"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"
