"""The shop under real concurrency (PostgreSQL, real threads, real transactions): no overselling, no negative
balance, balances equal ledger sums, per-member limits and idempotency keys hold, a refund happens once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models import F, Sum

from community.errors import ServiceError
from rewards import selectors
from rewards.models import CouponCode, PointBalance, PointEntry, Redemption, Reward
from rewards.services import shop
from tests.factories import MemberFactory
from tests.rewards.factories_shop import CouponRewardFactory, RewardFactory, give_points

needs_row_locks = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrency is proven on PostgreSQL (SQLite serialises writers)"
)
pytestmark = [needs_row_locks, pytest.mark.django_db(transaction=True)]


def run_in_threads(workers: int, calls_per_worker: int, fn: Callable[[int, int], Any]) -> list[Any]:
    """`workers` threads start together; each makes `calls_per_worker` calls fn(worker, call) on its own
    connection, closed when the thread is done. Exceptions are returned, not raised."""
    barrier = threading.Barrier(workers)
    results: list[Any] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        outcomes = []
        try:
            barrier.wait()
            for call in range(calls_per_worker):
                try:
                    outcomes.append(fn(worker, call))
                except Exception as exc:  # collected and asserted on by the test
                    outcomes.append(exc)
        finally:
            connections.close_all()
        with lock:
            results.extend(outcomes)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, range(workers)))
    return results


def errors_by_code(results: list[Any]) -> Counter:
    return Counter(
        r.code if isinstance(r, ServiceError) else type(r).__name__ for r in results if isinstance(r, Exception)
    )


def test_10000_attempts_by_50_threads_against_300_in_stock_sell_exactly_300():
    price = 100
    rich = MemberFactory.create_batch(160)
    poor = MemberFactory.create_batch(40)
    for m in rich:
        give_points(m, 1_000)  # enough for ten each: demand far above stock
    for m in poor:
        give_points(m, 99)  # one point short
    members = rich + poor
    reward = CouponRewardFactory(price=price, codes=300)
    stock_seen: list[int] = []
    watching = threading.Event()

    def watch_stock() -> None:  # samples the stock while the race runs: it must never be seen below zero
        try:
            while not watching.is_set():
                stock_seen.append(Reward.objects.values_list("stock", flat=True).get(pk=reward.pk))
                time.sleep(0.01)
        finally:
            connections.close_all()

    def attempt(worker: int, call: int):
        member = members[(worker + call * 50) % len(members)]  # at any moment the 50 threads serve 50 members
        return shop.reward_redeem(member=member, reward=reward, idempotency_key=f"race-{worker}-{call}")

    watcher = threading.Thread(target=watch_stock)
    watcher.start()
    started = time.monotonic()
    try:
        results = run_in_threads(50, 200, attempt)
    finally:
        watching.set()
        watcher.join()
    elapsed = time.monotonic() - started

    assert len(results) == 10_000
    sold = [r for r in results if not isinstance(r, Exception)]
    refused = errors_by_code(results)
    assert set(refused) <= {"out_of_stock", "insufficient_points"}, refused
    assert len(sold) == 300 and all(r.created for r in sold)
    assert refused["insufficient_points"] > 0
    reward.refresh_from_db()
    assert reward.stock == 0
    assert min(stock_seen) >= 0
    assert Redemption.objects.count() == 300
    # Every code went to exactly one redemption, and each redemption holds the code it shows.
    assert CouponCode.objects.filter(redemption__isnull=True).count() == 0
    assert CouponCode.objects.filter(redemption__coupon_code_id=F("id")).count() == 300
    # Money: 300 spends of 100, nobody below zero, balances equal the ledger.
    spends = PointEntry.objects.filter(kind=PointEntry.Kind.SPEND)
    assert spends.count() == 300 and spends.aggregate(total=Sum("spendable_delta"))["total"] == -300 * price
    assert not PointBalance.objects.filter(spendable__lt=0).exists()
    assert selectors.ledger_drift() == []
    bought = Counter(r.redemption.member_id for r in sold)
    for m in rich:
        assert selectors.balance_for_member(member=m).spendable == 1_000 - price * bought[m.pk]
    # Refused attempts left the poor members' points exactly as they were.
    assert {selectors.balance_for_member(member=m).spendable for m in poor} == {99}
    assert not Redemption.objects.filter(member__in=poor).exists()
    assert elapsed < 120, f"the race took {elapsed:.1f} s"  # ~25 s on an idle 2-core machine


def test_the_per_member_limit_holds_under_a_race():
    member = MemberFactory()
    give_points(member, 10_000)
    reward = RewardFactory(price=10, stock=100, per_member_limit=3)

    results = run_in_threads(
        20, 2, lambda w, c: shop.reward_redeem(member=member, reward=reward, idempotency_key=f"limit-{w}-{c}")
    )

    assert len([r for r in results if not isinstance(r, Exception)]) == 3
    assert errors_by_code(results) == Counter({"limit_reached": 37})
    assert Redemption.objects.filter(member=member).count() == 3
    reward.refresh_from_db()
    assert reward.stock == 97
    assert selectors.balance_for_member(member=member).spendable == 10_000 - 30
    assert selectors.ledger_drift() == []


def test_the_same_key_redeemed_in_parallel_makes_one_redemption():
    member = MemberFactory()
    give_points(member, 1_000)
    reward = RewardFactory(price=100, stock=50)

    results = run_in_threads(
        30, 1, lambda w, c: shop.reward_redeem(member=member, reward=reward, idempotency_key="double-click")
    )

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(r.created for r in results) == 1
    assert len({r.redemption.pk for r in results}) == 1
    assert Redemption.objects.count() == 1
    assert selectors.balance_for_member(member=member).spendable == 900
    reward.refresh_from_db()
    assert reward.stock == 49


def test_cancelling_in_parallel_refunds_once_and_returns_stock_once():
    member = MemberFactory()
    operator = MemberFactory(user__is_staff=True)
    give_points(member, 500)
    reward = RewardFactory(price=200, stock=5)
    redemption = shop.reward_redeem(member=member, reward=reward, idempotency_key="to-cancel").redemption

    results = run_in_threads(
        20, 1, lambda w, c: shop.redemption_cancel(redemption=redemption, actor=operator.user, reason="Duplicate")
    )

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(r.cancelled for r in results) == 1
    assert PointEntry.objects.filter(kind=PointEntry.Kind.REFUND).count() == 1
    assert selectors.balance_for_member(member=member).spendable == 500
    reward.refresh_from_db()
    assert reward.stock == 5
    assert selectors.ledger_drift() == []


def test_redeeming_and_cancelling_the_same_members_rewards_at_once_never_deadlocks():
    members = MemberFactory.create_batch(5)
    operator = MemberFactory(user__is_staff=True)
    for m in members:
        give_points(m, 10_000)
    reward = RewardFactory(price=10, stock=1_000)
    existing = [
        shop.reward_redeem(member=m, reward=reward, idempotency_key=f"first-{i}-{m.pk}").redemption
        for i in range(4)
        for m in members
    ]

    def mixed(worker: int, call: int):
        if worker % 2:
            target = existing[(worker * 3 + call) % len(existing)]
            return shop.redemption_cancel(redemption=target, actor=operator.user, reason="Mixed race")
        member = members[(worker + call) % len(members)]
        return shop.reward_redeem(member=member, reward=reward, idempotency_key=f"mixed-{worker}-{call}")

    results = run_in_threads(16, 10, mixed)

    assert [r for r in results if isinstance(r, Exception)] == []
    active = Redemption.objects.exclude(status="cancelled").count()
    reward.refresh_from_db()
    assert reward.stock == 1_000 - active
    refunds = PointEntry.objects.filter(kind=PointEntry.Kind.REFUND).count()
    assert refunds == Redemption.objects.filter(status="cancelled").count()
    assert selectors.ledger_drift() == []
