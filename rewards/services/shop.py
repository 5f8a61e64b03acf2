"""The rewards shop: redeeming (points and stock taken together or not at all), fulfilment, cancellation with a
refund, the catalogue and the pools of coupon codes.

Concurrency: every redemption of a member first locks that member's balance row, so the per-member limit count,
the balance check and a retried idempotency key are decided one request at a time per member. Stock is taken by
one conditional `UPDATE … SET stock = stock - 1 WHERE stock > 0`, so no two requests sell the last item, and a
coupon's code is the next free row taken with `FOR UPDATE SKIP LOCKED`, so concurrent buyers never wait on (or
share) a code. Lock order is always balance → redemption → reward → coupon code, for redeeming and cancelling
alike, which keeps them free of deadlocks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community import domain_events, notification_kinds
from community.errors import ServiceError
from community.notification_kinds import NotificationKind
from community.services import audit_record, model_snapshot, notify, record_activity
from members.models import Member
from rewards.models import (
    MAX_REWARD_PRICE,
    MAX_REWARD_STOCK,
    CouponCode,
    MemberLevel,
    PointBalance,
    Redemption,
    Reward,
)
from rewards.services.ledger import points_refund, points_spend

logger = logging.getLogger(__name__)

REDEMPTION_FULFILLED = notification_kinds.register(
    NotificationKind("redemption_fulfilled", gettext_lazy("A reward you redeemed was fulfilled"))
)
REDEMPTION_CANCELLED = notification_kinds.register(
    NotificationKind("redemption_cancelled", gettext_lazy("A redemption of yours was cancelled"))
)

IDEMPOTENCY_KEY_MAX_LENGTH = 100
NOTE_MAX_LENGTH = 1000
CANCEL_REASON_MAX_LENGTH = 500
COUPON_CODE_MAX_LENGTH = 100
MAX_CODES_PER_IMPORT = 100_000

Status = Redemption.Status
ACTIVE_STATUSES = (Status.PENDING, Status.FULFILLED)

# Fields operators may set on a reward through reward_create / reward_update.
REWARD_FIELDS = (
    "kind",
    "name",
    "description",
    "image",
    "price",
    "stock",
    "per_member_limit",
    "min_level",
    "available_from",
    "available_until",
    "is_active",
    "sort_order",
)


@dataclass(frozen=True)
class RedeemResult:
    redemption: Redemption
    created: bool


@dataclass(frozen=True)
class CancelResult:
    redemption: Redemption
    cancelled: bool  # False when it was already cancelled (nothing was refunded twice)
    stock_returned: bool = False


@dataclass(frozen=True)
class CouponImportResult:
    added: int
    duplicates: list[str] = field(default_factory=list)  # already in the pool, or twice in the input
    invalid: list[str] = field(default_factory=list)  # too long or containing spaces / control characters


# --- redeeming ------------------------------------------------------------------------------------------------


def _check_idempotency_key(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip() if isinstance(idempotency_key, str) else ""
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ServiceError(
            _("An idempotency key of 1 to %(max)d characters is required.") % {"max": IDEMPOTENCY_KEY_MAX_LENGTH},
            field="idempotency_key",
        )
    return key


def _existing_redemption(*, member: Member, reward: Reward, key: str) -> Redemption | None:
    existing = Redemption.objects.filter(member_id=member.pk, idempotency_key=key).first()
    if existing is not None and existing.reward_id != reward.pk:
        raise ServiceError(
            _("This idempotency key was already used for another reward."),
            field="idempotency_key",
            code="idempotency_conflict",
        )
    return existing


def _current_reward(reward: Reward) -> Reward:
    current = Reward.objects.filter(pk=reward.pk).select_related("min_level").first()
    if current is None:
        raise ServiceError(_("This reward is not available."), code="not_available")
    return current


def _refuse_unless_offered(*, reward: Reward, now: Any) -> None:
    """Raise if nobody can have this reward now: inactive, outside its dates, or out of stock."""
    if not reward.is_available_at(now):
        if reward.is_active and reward.available_from is not None and now < reward.available_from:
            message = _("“%(name)s” is not available yet.") % {"name": reward.name}
        elif reward.is_active and reward.available_until is not None and now >= reward.available_until:
            message = _("“%(name)s” is no longer available.") % {"name": reward.name}
        else:
            message = _("“%(name)s” is not available.") % {"name": reward.name}
        raise ServiceError(message, code="not_available")
    if reward.stock <= 0:
        raise ServiceError(_("“%(name)s” is out of stock.") % {"name": reward.name}, code="out_of_stock")


def _refuse_unless_redeemable(*, member: Member, reward: Reward, balance: PointBalance | None, now: Any) -> None:
    """Raise the first reason this member cannot have this reward now (stock is taken separately, atomically)."""
    _refuse_unless_offered(reward=reward, now=now)
    if reward.min_level_id is not None:
        held = MemberLevel.objects.filter(member_id=member.pk).select_related("level").first()
        if held is None or held.level.threshold < reward.min_level.threshold:
            raise ServiceError(
                _("“%(name)s” is for members at level “%(required)s” or above; your level is “%(have)s”.")
                % {
                    "name": reward.name,
                    "required": reward.min_level.display_name,
                    "have": held.level.display_name if held is not None else _("none yet"),
                },
                code="level_too_low",
            )
    if reward.per_member_limit is not None:
        taken = Redemption.objects.filter(member_id=member.pk, reward_id=reward.pk, status__in=ACTIVE_STATUSES).count()
        if taken >= reward.per_member_limit:
            raise ServiceError(
                _("You have already redeemed “%(name)s” the most times allowed (%(limit)d).")
                % {"name": reward.name, "limit": reward.per_member_limit},
                code="limit_reached",
            )
    spendable = balance.spendable if balance is not None else 0
    if spendable < reward.price:
        raise ServiceError(
            _("“%(name)s” costs %(price)d points; you have %(have)d.")
            % {"name": reward.name, "price": reward.price, "have": spendable},
            field=None,
            code="insufficient_points",
        )


def reward_redeem(*, member: Member, reward: Reward, idempotency_key: str, note: str = "") -> RedeemResult:
    """Spend the member's points on one unit of the reward. All or nothing: a refusal (a ServiceError with code
    not_available, out_of_stock, level_too_low, limit_reached or insufficient_points) leaves points and stock
    untouched. The same idempotency key gives back the redemption it made the first time."""
    key = _check_idempotency_key(idempotency_key)
    note = (note or "").strip() if isinstance(note, str) else ""
    if len(note) > NOTE_MAX_LENGTH:
        raise ServiceError(_("Keep the note to %(max)d characters.") % {"max": NOTE_MAX_LENGTH}, field="note")
    now = timezone.now()
    # Fast answers without any lock: a retried key, and a reward nobody can have right now (sold out, inactive,
    # outside its dates). Everything is checked again below under the member's lock.
    existing = _existing_redemption(member=member, reward=reward, key=key)
    if existing is not None:
        return RedeemResult(existing, False)
    _refuse_unless_offered(reward=_current_reward(reward), now=now)
    with transaction.atomic():
        # Every redemption by this member queues here; no balance row means no points, refused below.
        balance = PointBalance.objects.select_for_update().filter(member_id=member.pk).first()
        existing = _existing_redemption(member=member, reward=reward, key=key)
        if existing is not None:  # a concurrent retry with the same key got here first
            return RedeemResult(existing, False)
        current = _current_reward(reward)
        _refuse_unless_redeemable(member=member, reward=current, balance=balance, now=now)
        if not Reward.objects.filter(pk=current.pk, stock__gt=0).update(stock=F("stock") - 1):
            raise ServiceError(_("“%(name)s” is out of stock.") % {"name": current.name}, code="out_of_stock")
        code = None
        if current.kind == Reward.Kind.COUPON:
            code = (
                CouponCode.objects.select_for_update(skip_locked=True)
                .filter(reward_id=current.pk, redemption__isnull=True)
                .order_by("id")
                .first()
            )
            if code is None:  # stock said there was one: the pool and the stock disagree
                logger.error("Coupon reward %s has stock but no free code", current.pk)
                raise ServiceError(_("“%(name)s” is out of stock.") % {"name": current.name}, code="out_of_stock")
        redemption = Redemption.objects.create(
            member=member,
            reward=current,
            price_paid=current.price,
            # A coupon is delivered the moment its code is shown; everything else waits for an operator.
            status=Status.FULFILLED if code is not None else Status.PENDING,
            fulfilled_at=now if code is not None else None,
            coupon_code=code,
            note=note,
            idempotency_key=key,
            created_at=now,
            changed_by=member.user,
        )
        if code is not None:
            CouponCode.objects.filter(pk=code.pk).update(redemption=redemption, revealed_at=None)
        points_spend(
            member=member,
            amount=current.price,
            reason=(_("Redeemed: %(name)s") % {"name": current.name})[:200],
            idempotency_key=f"redemption:{redemption.pk}",
            actor=member.user,
            source=redemption,
        )
        audit_record(actor=member.user, action="redemption.create", obj=redemption, after=model_snapshot(redemption))
        record_activity(
            member=member,
            verb="reward_redeemed",
            target=redemption,
            data={"reward_id": current.pk, "kind": current.kind, "price": current.price},
            occurred_at=now,
        )
        domain_events.publish(
            "reward.redeemed",
            {
                "redemption_id": redemption.pk,
                "member_id": member.pk,
                "reward_id": current.pk,
                "price": current.price,
                "status": redemption.status,
            },
        )
    return RedeemResult(redemption, True)


def redemption_codes_reveal(*, member: Member) -> int:
    """Mark the member's assigned coupon codes as shown to them (call before displaying them). A revealed code is
    never returned to the pool when its redemption is cancelled. Returns how many were newly revealed."""
    return CouponCode.objects.filter(
        redemption__member_id=member.pk, redemption__isnull=False, revealed_at__isnull=True
    ).update(revealed_at=timezone.now())


# --- fulfilment and cancellation ------------------------------------------------------------------------------


def _locked(redemption: Redemption) -> Redemption:
    return (
        Redemption.objects.select_for_update(of=("self",))
        .select_related("reward", "member__user", "coupon_code")
        .get(pk=redemption.pk)
    )


def _redemption_url(redemption: Redemption) -> str:
    return reverse("rewards:shop_redemption", kwargs={"pk": redemption.pk})


def redemption_fulfil(*, redemption: Redemption, actor: Any) -> Redemption:
    """Mark a pending redemption fulfilled (the gift was sent, the session booked) and tell the member. Fulfilling
    one that is already fulfilled changes nothing; a cancelled one cannot be fulfilled."""
    with transaction.atomic():
        current = _locked(redemption)
        if current.status == Status.FULFILLED:
            return current
        if current.status == Status.CANCELLED:
            raise ServiceError(_("A cancelled redemption cannot be fulfilled."), code="invalid_status")
        before = model_snapshot(current)
        current.status = Status.FULFILLED
        current.fulfilled_at = timezone.now()
        current.changed_by = actor if getattr(actor, "is_authenticated", False) else None
        current.save(update_fields=["status", "fulfilled_at", "changed_by", "updated_at"])
        audit_record(actor=actor, action="redemption.fulfil", obj=current, before=before, after=model_snapshot(current))
        notify(
            member=current.member,
            kind=REDEMPTION_FULFILLED.key,
            url=_redemption_url(current),
            context={"reward": current.reward.name, "redemption_id": current.pk, "kind": current.reward.kind},
        )
    return current


def redemption_cancel(*, redemption: Redemption, actor: Any, reason: str) -> CancelResult:
    """Cancel a redemption and give the points back, once. Stock comes back when the item never left: a pending
    gift, service or ticket, or a coupon whose code the member has not been shown (that code is freed). A revealed
    code stays used. Cancelling again changes nothing."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise ServiceError(_("Say why the redemption is cancelled; the member will see it."), field="reason")
    if len(reason) > CANCEL_REASON_MAX_LENGTH:
        raise ServiceError(
            _("Keep the reason to %(max)d characters.") % {"max": CANCEL_REASON_MAX_LENGTH}, field="reason"
        )
    with transaction.atomic():
        # Same lock order as a redemption (the member's balance, then the reward), so the two never deadlock.
        PointBalance.objects.select_for_update().filter(member_id=redemption.member_id).first()
        current = _locked(redemption)
        if current.status == Status.CANCELLED:
            return CancelResult(current, False)
        before = model_snapshot(current)
        stock_returned = False
        if current.coupon_code_id is not None:
            code = CouponCode.objects.select_for_update().get(pk=current.coupon_code_id)
            if code.revealed_at is None:
                code.redemption = None
                code.save(update_fields=["redemption"])
                current.coupon_code = None
                stock_returned = True
        elif current.reward.kind != Reward.Kind.COUPON and current.status == Status.PENDING:
            stock_returned = True
        current.status = Status.CANCELLED
        current.cancelled_at = timezone.now()
        current.cancel_reason = reason
        current.changed_by = actor if getattr(actor, "is_authenticated", False) else None
        current.save(
            update_fields=["status", "cancelled_at", "cancel_reason", "changed_by", "coupon_code", "updated_at"]
        )
        if stock_returned:
            Reward.objects.filter(pk=current.reward_id).update(stock=F("stock") + 1)
        points_refund(
            member=current.member,
            amount=current.price_paid,
            reason=(_("Refund: %(name)s") % {"name": current.reward.name})[:200],
            idempotency_key=f"redemption-refund:{current.pk}",
            actor=actor,
            source=current,
        )
        audit_record(actor=actor, action="redemption.cancel", obj=current, before=before, after=model_snapshot(current))
        notify(
            member=current.member,
            kind=REDEMPTION_CANCELLED.key,
            url=_redemption_url(current),
            context={
                "reward": current.reward.name,
                "redemption_id": current.pk,
                "points": current.price_paid,
                "reason": reason,
            },
        )
    return CancelResult(current, True, stock_returned)


# --- the catalogue --------------------------------------------------------------------------------------------


def _validate_reward_values(values: dict[str, Any]) -> None:
    price = values.get("price")
    if "price" in values and (
        isinstance(price, bool) or not isinstance(price, int) or not 0 < price <= MAX_REWARD_PRICE
    ):
        raise ServiceError(
            _("The price must be a whole number of points from 1 to %(max)d.") % {"max": MAX_REWARD_PRICE},
            field="price",
        )
    stock = values.get("stock")
    if "stock" in values and (
        isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= MAX_REWARD_STOCK
    ):
        raise ServiceError(
            _("Stock must be a whole number from 0 to %(max)d.") % {"max": MAX_REWARD_STOCK}, field="stock"
        )
    unknown = set(values) - set(REWARD_FIELDS)
    if unknown:
        raise ServiceError(_("Unknown fields: %(names)s.") % {"names": ", ".join(sorted(unknown))})


def _full_clean(reward: Reward) -> None:
    try:
        reward.full_clean(exclude=["image"] if not reward.image else None)
    except ValidationError as error:
        fields = error.message_dict if hasattr(error, "error_dict") else {None: error.messages}
        name, messages = next(iter(fields.items()))
        raise ServiceError(" ".join(messages), field=None if name in (None, "__all__") else name) from None


def reward_create(*, actor: Any, **values: Any) -> Reward:
    """Add a reward to the catalogue. A coupon starts with no stock: its stock is its imported codes."""
    _validate_reward_values(values)
    if values.get("kind") == Reward.Kind.COUPON and values.get("stock"):
        raise ServiceError(_("A coupon's stock is its pool of codes: import codes instead."), field="stock")
    reward = Reward(**values)
    _full_clean(reward)
    with transaction.atomic():
        reward.save()
        audit_record(actor=actor, action="reward.create", obj=reward, after=model_snapshot(reward))
    return reward


def reward_update(*, reward: Reward, actor: Any, expected_stock: int | None = None, **changes: Any) -> Reward:
    """Change a reward. `expected_stock` (the stock the operator saw) refuses a stock edit that would overwrite
    sales made since; a coupon's stock cannot be set by hand, and a reward that has codes or redemptions keeps
    its kind."""
    _validate_reward_values(changes)
    with transaction.atomic():
        current = Reward.objects.select_for_update().get(pk=reward.pk)
        before = model_snapshot(current)
        if (
            "kind" in changes
            and changes["kind"] != current.kind
            and (current.coupon_codes.exists() or current.redemptions.exists())
        ):
            raise ServiceError(_("This reward has codes or redemptions; its kind cannot change."), field="kind")
        kind = changes.get("kind", current.kind)
        if "stock" in changes and changes["stock"] != current.stock:
            if kind == Reward.Kind.COUPON:
                raise ServiceError(
                    _("A coupon's stock follows its pool of codes: import codes instead."), field="stock"
                )
            if expected_stock is not None and expected_stock != current.stock:
                raise ServiceError(
                    _("The stock changed to %(now)d while you were editing; check it and save again.")
                    % {"now": current.stock},
                    field="stock",
                )
        for name, value in changes.items():
            setattr(current, name, value)
        _full_clean(current)
        current.save()
        audit_record(actor=actor, action="reward.update", obj=current, before=before, after=model_snapshot(current))
    return current


def _code_is_valid(code: str) -> bool:
    return 0 < len(code) <= COUPON_CODE_MAX_LENGTH and code.isprintable() and not any(c.isspace() for c in code)


def coupon_codes_import(*, reward: Reward, codes: Iterable[str], actor: Any) -> CouponImportResult:
    """Add codes to a coupon's pool and raise its stock by as many. Blank lines are skipped; codes already in the
    pool or repeated in the input are reported as duplicates, malformed ones as invalid, and neither is added."""
    wanted: list[str] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    invalid: list[str] = []
    for raw in codes:
        code = (raw or "").strip()
        if not code:
            continue
        if not _code_is_valid(code):
            invalid.append(code[:COUPON_CODE_MAX_LENGTH])
        elif code in seen:
            duplicates.append(code)
        else:
            seen.add(code)
            wanted.append(code)
    if len(wanted) > MAX_CODES_PER_IMPORT:
        raise ServiceError(_("Import at most %(max)d codes at a time.") % {"max": MAX_CODES_PER_IMPORT}, field="codes")
    with transaction.atomic():
        # The reward's row lock serialises imports with each other and with in-flight redemptions.
        current = Reward.objects.select_for_update().get(pk=reward.pk)
        if current.kind != Reward.Kind.COUPON:
            raise ServiceError(_("Only coupon rewards have a pool of codes."), field="codes")
        existing: set[str] = set()
        for start in range(0, len(wanted), 1000):
            existing.update(
                CouponCode.objects.filter(reward_id=current.pk, code__in=wanted[start : start + 1000]).values_list(
                    "code", flat=True
                )
            )
        new = [code for code in wanted if code not in existing]
        duplicates.extend(code for code in wanted if code in existing)
        if current.stock + len(new) > MAX_REWARD_STOCK:
            raise ServiceError(
                _("A reward holds at most %(max)d unused codes.") % {"max": MAX_REWARD_STOCK}, field="codes"
            )
        CouponCode.objects.bulk_create([CouponCode(reward_id=current.pk, code=code) for code in new], batch_size=1000)
        if new:
            Reward.objects.filter(pk=current.pk).update(stock=F("stock") + len(new))
            audit_record(
                actor=actor,
                action="reward.codes_import",
                obj=current,
                after={"added": len(new), "duplicates": len(duplicates), "invalid": len(invalid)},
            )
    return CouponImportResult(len(new), duplicates, invalid)


def coupon_codes_withdraw(*, reward: Reward, code_ids: Iterable[int], actor: Any) -> int:
    """Remove unused codes from a coupon's pool (and as much stock). Codes already given out are left alone.
    Returns how many were removed."""
    ids = list(code_ids)
    with transaction.atomic():
        current = Reward.objects.select_for_update().get(pk=reward.pk)
        free = CouponCode.objects.filter(reward_id=current.pk, pk__in=ids, redemption__isnull=True)
        removed, _per_model = free.delete()
        if removed:
            Reward.objects.filter(pk=current.pk, stock__gte=removed).update(stock=F("stock") - removed)
            audit_record(actor=actor, action="reward.codes_withdraw", obj=current, after={"removed": removed})
    return removed
