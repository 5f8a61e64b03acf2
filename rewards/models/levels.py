from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

__all__ = ["Level", "MemberLevel", "Privilege"]


class Privilege(models.TextChoices):
    """What a level gives. The shop discount's size is `Level.shop_discount_percent`."""

    EARLY_ACCESS = "early_access", _("Early access to new features")
    PRIORITY_SUPPORT = "priority_support", _("Priority support")
    EXCLUSIVE_EVENTS = "exclusive_events", _("Exclusive events")
    SHOP_DISCOUNT = "shop_discount_percent", _("Discount in the rewards shop")


def validate_privileges(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_("Privileges must be a list of privilege names."))
    unknown = sorted(set(value) - set(Privilege.values))
    if unknown:
        raise ValidationError(
            _("Unknown privileges: %(names)s. Choose from %(choices)s.")
            % {"names": ", ".join(unknown), "choices": ", ".join(Privilege.values)}
        )


class Level(models.Model):
    """A rung of the membership ladder, reached on lifetime points (and optionally recent activity).

    Names are stored in English and shown through the translation catalogue, so the default levels read
    新手 / 活跃 / 核心 / 超级 in Chinese; a name an operator types that the catalogue lacks is shown as typed.
    """

    name = models.CharField(_("name"), max_length=60, unique=True)
    description = models.TextField(_("description"), blank=True, help_text=_("Markdown, shown to members."))
    threshold = models.PositiveBigIntegerField(
        _("lifetime points needed"), unique=True, validators=[MaxValueValidator(10**15)]
    )
    min_active_days = models.PositiveSmallIntegerField(
        _("minimum active days"),
        null=True,
        blank=True,
        help_text=_("Optional: also require activity on at least this many days in the window below."),
    )
    active_days_window = models.PositiveSmallIntegerField(
        _("activity window (days)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(366)]
    )
    privileges = models.JSONField(_("privileges"), default=list, blank=True, validators=[validate_privileges])
    shop_discount_percent = models.PositiveSmallIntegerField(
        _("shop discount (%)"), default=0, validators=[MaxValueValidator(100)]
    )
    demotion_grace_days = models.PositiveSmallIntegerField(
        _("demotion grace period (days)"),
        default=30,
        help_text=_("A member who falls below this level keeps it this long before moving down."),
    )

    class Meta:
        verbose_name = _("level")
        verbose_name_plural = _("levels")
        ordering = ["threshold"]
        constraints = [
            models.CheckConstraint(condition=Q(shop_discount_percent__lte=100), name="level_shop_discount_at_most_100"),
            models.CheckConstraint(
                condition=Q(active_days_window__gte=1, active_days_window__lte=366), name="level_window_bounded"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return gettext(self.name) if self.name else ""

    def privilege_labels(self) -> list[str]:
        labels = dict(Privilege.choices)
        shown = []
        for key in self.privileges or []:
            if key == Privilege.SHOP_DISCOUNT:
                if self.shop_discount_percent:
                    percent = self.shop_discount_percent
                    shown.append(gettext("%(percent)d%% off in the rewards shop") % {"percent": percent})
            elif key in labels:
                shown.append(str(labels[key]))
        return shown

    def has_activity_condition(self) -> bool:
        return bool(self.min_active_days)


class MemberLevel(models.Model):
    """The level a member holds. `below_since` is set when they stop qualifying; the level is kept until the
    grace period has passed (a scheduled job then moves them down), and cleared if they qualify again."""

    member = models.OneToOneField(
        "members.Member", primary_key=True, on_delete=models.CASCADE, related_name="member_level"
    )
    level = models.ForeignKey(Level, on_delete=models.PROTECT, related_name="holders")
    reached_at = models.DateTimeField(_("reached at"), default=timezone.now)
    below_since = models.DateTimeField(_("below the level since"), null=True, blank=True)

    class Meta:
        verbose_name = _("member level")
        verbose_name_plural = _("member levels")
        indexes = [
            models.Index(fields=["below_since"], condition=Q(below_since__isnull=False), name="member_level_below")
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.level_id}"
