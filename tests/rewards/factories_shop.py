"""Factories for the rewards shop."""

from __future__ import annotations

import uuid

import factory

from members.models import Member
from rewards.models import CouponCode, Level, Redemption, Reward
from rewards.services import LedgerResult, points_award
from tests.factories import MemberFactory


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reward

    kind = Reward.Kind.GIFT
    name = factory.Sequence(lambda n: f"Reward {n}")
    description = "A **fine** thing."
    price = 100
    stock = 10


class CouponRewardFactory(RewardFactory):
    class Meta:
        skip_postgeneration_save = True

    kind = Reward.Kind.COUPON
    name = factory.Sequence(lambda n: f"Coupon {n}")
    stock = 0

    @factory.post_generation
    def codes(self, create: bool, extracted: int | None, **kwargs: object) -> None:
        """`CouponRewardFactory(codes=5)`: a pool of five codes, with the stock to match."""
        if not create or not extracted:
            return
        CouponCode.objects.bulk_create([CouponCode(reward=self, code=f"R{self.pk}-{i:04d}") for i in range(extracted)])
        Reward.objects.filter(pk=self.pk).update(stock=extracted)
        self.refresh_from_db()


class RedemptionFactory(factory.django.DjangoModelFactory):
    """A bare redemption row (no points moved): for list and permission tests. Use the service for real ones."""

    class Meta:
        model = Redemption

    member = factory.SubFactory(MemberFactory)
    reward = factory.SubFactory(RewardFactory)
    price_paid = factory.LazyAttribute(lambda o: o.reward.price)
    idempotency_key = factory.Sequence(lambda n: f"factory-{n}")


def give_points(member: Member, amount: int, key: str | None = None) -> LedgerResult:
    """Award points through the ledger (the only way points move)."""
    return points_award(
        member=member, amount=amount, reason="test grant", idempotency_key=key or f"test-grant:{uuid.uuid4()}"
    )


def level(name: str, threshold: int) -> Level:
    """A rung of the level ladder; members reach it when the ledger's level evaluation sees their points."""
    found, _created = Level.objects.get_or_create(name=name, defaults={"threshold": threshold})
    return found
