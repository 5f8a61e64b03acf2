"""Demo data for the rewards shop: a small believable catalogue (a coupon with a pool of codes, a T-shirt, a session
with the product team, a meetup ticket) and redemptions in every state by members who can afford them.

Everything goes through the shop services, so stock, codes, points and the ledger agree exactly as in real use.
Running it again adds nothing: rewards are found by name, codes are imported only into an empty pool, and the
redemptions are made only once.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from community.errors import ServiceError
from members.models import Member
from rewards.models import Level, PointBalance, Redemption, Reward, RewardsSettings
from rewards.services.ledger import points_award
from rewards.services.shop import coupon_codes_import, redemption_cancel, redemption_fulfil, reward_redeem

COUPON_CODES = 50
REDEEMERS = 14  # members who redeem something
STARTING_POINTS = (600, 3000)  # given to a few members when the ledger is still empty


def _catalogue(now: datetime) -> list[dict]:
    level = Level.objects.filter(threshold__gt=0).order_by("threshold").first()
    return [
        {
            "kind": Reward.Kind.COUPON,
            "name": "¥20 优惠券",
            "price": 200,
            "per_member_limit": 3,
            "sort_order": 1,
            "description": "A ¥20 voucher for the online store, valid on any order over ¥99.\n\n"
            "Your code is shown **as soon as you redeem**. 在线商城满 99 元可用。",
        },
        {
            "kind": Reward.Kind.GIFT,
            "name": "Hearth community T-shirt",
            "price": 800,
            "stock": 40,
            "per_member_limit": 1,
            "sort_order": 2,
            "description": "Soft organic cotton with the community logo. Tell us your size (S to XXL) and a shipping "
            "address in the note; we post within two weeks.",
        },
        {
            "kind": Reward.Kind.SERVICE,
            "name": "1-on-1 with the product team",
            "price": 1500,
            "stock": 8,
            "per_member_limit": 1,
            "sort_order": 3,
            "min_level": level,
            "description": "Thirty minutes with a product manager and an engineer to walk through your workflow "
            "and what you would change. We contact you to book a time.",
        },
        {
            "kind": Reward.Kind.TICKET,
            "name": "Community meetup ticket — Shanghai",
            "price": 300,
            "stock": 60,
            "per_member_limit": 2,
            "sort_order": 4,
            "available_until": now + timedelta(days=45),
            "description": "Entry to the next in-person meetup: roadmap preview, lightning talks and dinner. "
            "Put the attendee's name in the note.",
        },
    ]


def _coupon_codes(rng: random.Random) -> list[str]:
    alphabet = string.ascii_uppercase + string.digits
    return ["HEARTH20-" + "".join(rng.choice(alphabet) for _ in range(8)) for _ in range(COUPON_CODES)]


def seed(*, rng: random.Random, members: list[Member]) -> str:
    now = timezone.now()
    RewardsSettings.load()  # the operators' settings row exists; expiry stays off until they choose
    rewards: list[Reward] = []
    for values in _catalogue(now):
        reward, _created = Reward.objects.get_or_create(name=values["name"], defaults=values)
        rewards.append(reward)
    coupon = rewards[0]
    imported = 0
    if not coupon.coupon_codes.exists():
        imported = coupon_codes_import(reward=coupon, codes=_coupon_codes(rng), actor=None).added

    member_ids = [m.pk for m in members]
    if Redemption.objects.filter(idempotency_key__startswith="demo:shop:").exists():
        return f"shop: {len(rewards)} rewards, {imported} coupon codes, 0 redemptions (demo redemptions exist)"
    if not PointBalance.objects.filter(member_id__in=member_ids, spendable__gt=0).exists():
        for member in rng.sample(members, min(len(members), REDEEMERS * 2)):
            points_award(
                member=member,
                amount=rng.randint(*STARTING_POINTS),
                reason="Welcome points (demo)",
                idempotency_key=f"demo:shop-start:{member.pk}",
            )
    by_pk = {m.pk: m for m in members}
    affluent = list(
        PointBalance.objects.filter(member_id__in=member_ids, spendable__gte=200)
        .order_by(F("spendable").desc(), "member_id")
        .values_list("member_id", flat=True)[: REDEEMERS * 2]
    )
    redeemers = [by_pk[pk] for pk in rng.sample(affluent, min(len(affluent), REDEEMERS))]

    made: list[Redemption] = []
    refused = 0
    notes = {
        Reward.Kind.GIFT: [
            "Size M — 上海市徐汇区漕溪北路 88 号",
            "Size L, Room 1203, Tower B, Hangzhou",
            "XL please; ship to the office front desk",
        ],
        Reward.Kind.TICKET: ["Attendee: same as my profile name", "Bringing a colleague next time!"],
        Reward.Kind.SERVICE: ["Weekday afternoons work best (UTC+8)"],
    }
    for index, member in enumerate(redeemers):
        for choice in range(rng.randint(1, 2)):
            reward = rng.choice(rewards)
            note = rng.choice(notes.get(reward.kind, [""]))
            try:
                result = reward_redeem(
                    member=member, reward=reward, note=note, idempotency_key=f"demo:shop:{member.pk}:{index}:{choice}"
                )
            except ServiceError:  # too few points, the level is too low, the limit was reached: real refusals
                refused += 1
                continue
            if result.created:
                made.append(result.redemption)

    # Some of the operator's queue is done already; one gift could not be sent.
    waiting = [r for r in made if r.status == Redemption.Status.PENDING]
    for redemption in waiting[: len(waiting) // 2]:
        redemption_fulfil(redemption=redemption, actor=None)
    if len(waiting) > 2:
        redemption_cancel(
            redemption=waiting[-1],
            actor=None,
            reason="The address was incomplete; please redeem again with the full address",
        )
    counts = Counter(Redemption.objects.filter(pk__in=[r.pk for r in made]).values_list("status", flat=True))
    return (
        f"shop: {len(rewards)} rewards, {imported} coupon codes, {len(made)} redemptions "
        f"({counts['pending']} pending, {counts['fulfilled']} fulfilled, {counts['cancelled']} cancelled), "
        f"{refused} refused"
    )
