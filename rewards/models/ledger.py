from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Any single entry moves at most this many points: far above any real award, far below integer overflow.
MAX_ENTRY_POINTS = 1_000_000_000


class PointEntry(models.Model):
    """One line of the append-only points ledger. Never edited: a mistake is undone by a reversing entry.

    Each entry moves two balances: `lifetime_delta` (what levels and leaderboards use) and `spendable_delta`
    (what the shop uses). Earning moves both; spending, refunds and expiry move only the spendable balance.
    """

    class Kind(models.TextChoices):
        EARN = "earn", _("earned")
        DEDUCT = "deduct", _("deducted")
        SPEND = "spend", _("spent")
        REFUND = "refund", _("refunded")
        EXPIRE = "expire", _("expired")
        REVERSAL = "reversal", _("reversed")

    # Every index slows the insert that each award is, so the ledger keeps only those its reads use: the
    # member's entries by time (which also serves the member foreign key), time, the key, the expiring entries.
    # Rules, content types and actors are looked up from the ledger only when one is deleted (rare, and
    # PROTECT refuses the rule and content type anyway).
    # On PostgreSQL the references are enforced by triggers that check a whole statement's rows at once, not
    # by foreign key constraints, which check row by row (see migration 0005): hence db_constraint=False.
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="point_entries", db_index=False, db_constraint=False
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    lifetime_delta = models.BigIntegerField(_("lifetime points"))
    spendable_delta = models.BigIntegerField(_("spendable points"))
    reason = models.CharField(_("reason"), max_length=200)
    rule = models.ForeignKey(
        "rewards.PointRule",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
        db_constraint=False,
    )
    rule_version = models.PositiveIntegerField(_("rule version"), null=True, blank=True)
    source_type = models.ForeignKey(
        ContentType,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    source_id = models.CharField(_("source id"), max_length=64, blank=True)
    # Unique per source: the same award asked for twice (a retry, a race) lands once.
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    # Each entry can be reversed once: unique where set (see Meta), so the many entries that reverse nothing add
    # nothing to the index.
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        db_index=False,
        db_constraint=False,
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("point entry")
        verbose_name_plural = _("points ledger")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="point_entry_member_time"),
            models.Index(fields=["created_at"], name="point_entry_time"),
            models.Index(
                fields=["member", "expires_at"],
                condition=Q(kind="earn", expires_at__isnull=False),
                name="point_entry_expiring",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reverses"], condition=Q(reverses__isnull=False), name="point_entry_reversed_once"
            ),
            models.CheckConstraint(condition=~Q(lifetime_delta=0, spendable_delta=0), name="point_entry_moves_points"),
            models.CheckConstraint(
                condition=Q(lifetime_delta__gte=-MAX_ENTRY_POINTS, lifetime_delta__lte=MAX_ENTRY_POINTS)
                & Q(spendable_delta__gte=-MAX_ENTRY_POINTS, spendable_delta__lte=MAX_ENTRY_POINTS),
                name="point_entry_bounded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.spendable_delta:+d} ({self.reason})"


class PointBalance(models.Model):
    """A member's balances, always equal to the sums of their ledger entries (verified nightly)."""

    member = models.OneToOneField(
        "members.Member", primary_key=True, on_delete=models.CASCADE, related_name="point_balance"
    )
    lifetime = models.BigIntegerField(_("lifetime points"), default=0)
    spendable = models.BigIntegerField(_("spendable points"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("point balance")
        verbose_name_plural = _("point balances")
        constraints = [
            models.CheckConstraint(condition=Q(spendable__gte=0), name="point_balance_spendable_non_negative"),
            models.CheckConstraint(condition=Q(lifetime__gte=0), name="point_balance_lifetime_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.spendable}/{self.lifetime}"
