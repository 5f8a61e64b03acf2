"""Bulk awards under real concurrency (PostgreSQL, real threads, real transactions): racing with themselves or
with single awards, every key lands once, no point is lost or doubled, balances equal the ledger's sums."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Sum

from rewards.models import PointBalance, PointEntry
from rewards.services import BulkAward, points_award, points_award_bulk
from tests.concurrency import at_once
from tests.factories import MemberFactory

needs_row_locks = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrency is proven on PostgreSQL (SQLite serialises writers)"
)
pytestmark = [needs_row_locks, pytest.mark.django_db(transaction=True)]


def _assert_balances_are_ledger_sums() -> None:
    sums = {
        row["member_id"]: (row["lifetime"], row["spendable"])
        for row in PointEntry.objects.values("member_id").annotate(
            lifetime=Sum("lifetime_delta"), spendable=Sum("spendable_delta")
        )
    }
    balances = {b.member_id: (b.lifetime, b.spendable) for b in PointBalance.objects.all()}
    assert balances == sums


def _awards(members, keys: range, prefix: str = "shared") -> list[BulkAward]:
    # Member order shuffled against key order, so batches take the members' rows in an order of their own.
    return [
        BulkAward(
            member_id=members[(k * 7) % len(members)].pk,
            amount=1 + k % 5,
            idempotency_key=f"{prefix}-{k}",
            reason="race",
        )
        for k in keys
    ]


def test_bulk_calls_resending_overlapping_keys_in_parallel_award_each_key_once():
    members = MemberFactory.create_batch(40)
    # Six callers, each with a window of keys overlapping its neighbours', some in small batches.
    windows = [range(i * 150, i * 150 + 400) for i in range(6)]
    results = at_once(
        6, lambda w: points_award_bulk(awards=_awards(members, windows[w]), batch_size=(97 if w % 2 else 10_000))
    )
    assert [r for r in results if isinstance(r, Exception)] == []
    keys = set().union(*windows)
    assert sum(results) == len(keys) == PointEntry.objects.count()
    expected: dict[int, int] = {}
    for award in _awards(members, range(max(keys) + 1)):
        expected[award.member_id] = expected.get(award.member_id, 0) + award.amount
    assert {b.member_id: b.lifetime for b in PointBalance.objects.all()} == expected
    _assert_balances_are_ledger_sums()


def test_a_bulk_call_racing_single_awards_of_the_same_keys_awards_each_once():
    members = MemberFactory.create_batch(20)
    awards = _awards(members, range(300))
    by_member = {m.pk: m for m in members}

    def work(worker: int) -> int:
        if worker == 0:
            return points_award_bulk(awards=awards)
        mine = awards[worker - 1 :: 3]  # three single-award workers share the keys between them
        return sum(
            points_award(
                member=by_member[a.member_id], amount=a.amount, reason=a.reason, idempotency_key=a.idempotency_key
            ).created
            for a in mine
        )

    results = at_once(4, work)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(results) == len(awards) == PointEntry.objects.count()
    assert sum(b.lifetime for b in PointBalance.objects.all()) == sum(a.amount for a in awards)
    _assert_balances_are_ledger_sums()


def test_bulk_calls_over_the_same_members_with_their_own_keys_are_all_counted():
    members = MemberFactory.create_batch(30)
    results = at_once(4, lambda w: points_award_bulk(awards=_awards(members, range(500), prefix=f"own-{w}")))
    assert results == [500, 500, 500, 500]
    assert sum(b.lifetime for b in PointBalance.objects.all()) == 4 * sum(
        a.amount for a in _awards(members, range(500))
    )
    _assert_balances_are_ledger_sums()
