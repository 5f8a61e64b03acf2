"""Points expiry settings (one row, edited by operators) and the record of warnings already sent."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["PointsExpiryWarning", "RewardsSettings"]


class RewardsSettings(models.Model):
    """The rewards engine's operator settings. There is exactly one row (pk 1); use `RewardsSettings.load()`."""

    SINGLETON_PK = 1

    points_expire_after_months = models.PositiveSmallIntegerField(
        _("earned points expire after (months)"),
        null=True,
        blank=True,
        help_text=_("Empty: earned points never expire. Oldest points are used (and expire) first."),
    )
    warning_days = models.PositiveSmallIntegerField(
        _("warn members this many days ahead"),
        default=14,
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("rewards settings")
        verbose_name_plural = _("rewards settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="rewards_settings_single_row"),
            models.CheckConstraint(
                condition=Q(points_expire_after_months__isnull=True)
                | Q(points_expire_after_months__gte=1, points_expire_after_months__lte=120),
                name="rewards_settings_expiry_months_range",
            ),
            models.CheckConstraint(
                condition=Q(warning_days__gte=1, warning_days__lte=365), name="rewards_settings_warning_days_range"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Rewards settings"))

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = self.SINGLETON_PK
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> RewardsSettings:
        settings_row, _created = cls.objects.get_or_create(pk=cls.SINGLETON_PK)
        return settings_row


class PointsExpiryWarning(models.Model):
    """A "your points will expire" notice already sent: covers expiry dates up to `covers_until`, so no date is
    warned about twice."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    expires_on = models.DateField(_("first expiry date"))
    covers_until = models.DateField(_("covers expiry dates up to"))
    points = models.PositiveIntegerField(_("points at risk"))
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)

    class Meta:
        verbose_name = _("points expiry warning")
        verbose_name_plural = _("points expiry warnings")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["member", "expires_on"], name="points_expiry_warning_once_per_date"),
        ]
        indexes = [models.Index(fields=["member", "-covers_until"], name="points_expiry_warning_member")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.points} on {self.expires_on}"
