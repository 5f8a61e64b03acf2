"""The rewards shop: what members can spend points on, the pools of coupon codes, and each redemption.

Stock and the points price are guarded twice: by the services (conditional updates under row locks) and by
check constraints, so even a wrong caller cannot sell below zero stock or at a non-positive price.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["MAX_REWARD_PRICE", "MAX_REWARD_STOCK", "CouponCode", "Redemption", "Reward"]

# A reward costs at most this many points: far above any real price, far below the ledger's per-entry bound.
MAX_REWARD_PRICE = 10_000_000
# Stock is bounded so a typo (an extra few zeros) is caught rather than stored.
MAX_REWARD_STOCK = 1_000_000


class Reward(models.Model):
    """One item of the catalogue. For coupons `stock` is the number of unused codes in the pool (kept in step by
    the import and redemption services); for everything else it is set by operators."""

    class Kind(models.TextChoices):
        COUPON = "coupon", _("coupon")
        GIFT = "gift", _("physical gift")
        SERVICE = "service", _("exclusive service")
        TICKET = "ticket", _("event ticket")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True, help_text=_("Markdown."))
    image = models.ImageField(_("image"), upload_to="rewards/%Y/%m/", blank=True)
    price = models.PositiveIntegerField(_("price in points"))
    stock = models.PositiveIntegerField(
        _("stock"), default=0, help_text=_("For coupons this follows the number of unused codes.")
    )
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"),
        null=True,
        blank=True,
        help_text=_("Empty for no limit; cancelled redemptions do not count."),
    )
    # Compared by threshold with the level the member holds now (a member in a demotion grace period keeps it).
    min_level = models.ForeignKey(
        "rewards.Level",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rewards",
        verbose_name=_("level required"),
        help_text=_("Empty: every member may redeem it."),
    )
    available_from = models.DateTimeField(_("available from"), null=True, blank=True)
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.IntegerField(_("sort order"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["sort_order", "name", "id"]
        indexes = [models.Index(fields=["is_active", "sort_order"], name="reward_catalogue")]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gt=0, price__lte=MAX_REWARD_PRICE), name="reward_price_positive_bounded"
            ),
            models.CheckConstraint(
                condition=Q(stock__gte=0, stock__lte=MAX_REWARD_STOCK), name="reward_stock_non_negative_bounded"
            ),
            models.CheckConstraint(
                condition=Q(per_member_limit__isnull=True) | Q(per_member_limit__gt=0),
                name="reward_per_member_limit_positive",
            ),
            models.CheckConstraint(
                condition=Q(available_from__isnull=True)
                | Q(available_until__isnull=True)
                | Q(available_until__gt=F("available_from")),
                name="reward_availability_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_available_at(self, moment: datetime) -> bool:
        """Active and inside its availability dates (stock and the member's standing are checked separately)."""
        if not self.is_active:
            return False
        if self.available_from is not None and moment < self.available_from:
            return False
        return not (self.available_until is not None and moment >= self.available_until)


class CouponCode(models.Model):
    """One code in a coupon reward's pool. Free while `redemption` is empty; taken codes stay in the table."""

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="coupon_codes")
    code = models.CharField(_("code"), max_length=100)
    redemption = models.OneToOneField(
        "rewards.Redemption", null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_code"
    )
    # Set when the redeeming member is first shown the code; a revealed code never goes back into the pool.
    revealed_at = models.DateTimeField(_("revealed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("imported at"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon code")
        verbose_name_plural = _("coupon codes")
        ordering = ["reward", "id"]
        constraints = [models.UniqueConstraint(fields=["reward", "code"], name="coupon_code_unique_per_reward")]
        indexes = [
            models.Index(fields=["reward", "id"], condition=Q(redemption__isnull=True), name="coupon_code_free"),
        ]

    def __str__(self) -> str:
        return f"{self.reward_id}: {self.code}"


class Redemption(models.Model):
    """A member spending points on a reward. Points and stock are taken when it is created; cancelling gives the
    points back once (and the stock, when the item never left)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        FULFILLED = "fulfilled", _("fulfilled")
        CANCELLED = "cancelled", _("cancelled")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="redemptions")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    price_paid = models.PositiveIntegerField(_("points paid"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    # The code shown to the member (kept in step with CouponCode.redemption, which marks the pool).
    coupon_code = models.ForeignKey(
        CouponCode, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("coupon code")
    )
    note = models.TextField(_("shipping or contact note"), max_length=1000, blank=True)
    # A double-click or a retried API call carries the same key and gets the same redemption back.
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    created_at = models.DateTimeField(_("redeemed at"), default=timezone.now)
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=500, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("last changed by"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="redemption_idempotent_per_member"),
            models.CheckConstraint(condition=Q(price_paid__gt=0), name="redemption_price_paid_positive"),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="redemption_member_time"),
            models.Index(fields=["status", "created_at"], name="redemption_queue"),
            models.Index(fields=["reward", "member", "status"], name="redemption_member_limit"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reward_id} → {self.member_id} ({self.status})"
