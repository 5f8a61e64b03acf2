"""The points ledger: balances always equal ledger sums, idempotent awards, no negative spendable, exact under races."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Sum

from community.errors import ServiceError
from community.models import AuditLog
from rewards import selectors
from rewards.models import MAX_ENTRY_POINTS, PointBalance, PointEntry
from rewards.services import (
    BulkAward,
    points_award,
    points_award_bulk,
    points_deduct,
    points_expire,
    points_refund,
    points_reverse,
    points_spend,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def assert_balances_match_ledger() -> None:
    assert selectors.ledger_drift() == []
    for balance in PointBalance.objects.all():
        sums = PointEntry.objects.filter(member_id=balance.member_id).aggregate(
            lifetime=Sum("lifetime_delta"), spendable=Sum("spendable_delta")
        )
        assert (balance.lifetime, balance.spendable) == (sums["lifetime"] or 0, sums["spendable"] or 0)


def test_award_moves_both_balances_and_is_idempotent(member):
    first = points_award(member=member, amount=10, reason="check-in", idempotency_key="k1")
    again = points_award(member=member, amount=10, reason="check-in", idempotency_key="k1")
    assert first.created and not again.created and again.entry.pk == first.entry.pk
    balance = selectors.balance_for_member(member=member)
    assert (balance.lifetime, balance.spendable) == (10, 10)
    assert_balances_match_ledger()


def test_spend_refund_expire_move_only_spendable(member):
    points_award(member=member, amount=100, reason="gift", idempotency_key="a")
    points_spend(member=member, amount=60, reason="coupon", idempotency_key="s")
    points_refund(member=member, amount=20, reason="cancelled", idempotency_key="r")
    points_expire(member=member, amount=10, reason="expiry", idempotency_key="e")
    balance = selectors.balance_for_member(member=member)
    assert (balance.lifetime, balance.spendable) == (100, 50)
    assert_balances_match_ledger()


def test_spending_more_than_the_balance_is_refused_and_changes_nothing(member):
    points_award(member=member, amount=5, reason="x", idempotency_key="a")
    with pytest.raises(ServiceError) as error:
        points_spend(member=member, amount=6, reason="too much", idempotency_key="s")
    assert error.value.code == "insufficient_points"
    assert not PointEntry.objects.filter(idempotency_key="s").exists()
    assert selectors.balance_for_member(member=member).spendable == 5


@pytest.mark.parametrize("amount", [0, -5, MAX_ENTRY_POINTS + 1, 2**63, 1.5, True, "10"])
def test_bad_amounts_are_refused_with_a_field_error(member, amount):
    with pytest.raises(ServiceError) as error:
        points_award(member=member, amount=amount, reason="x", idempotency_key="bad")
    assert error.value.field == "amount"
    assert not PointEntry.objects.exists()


def test_deduction_is_capped_at_what_the_member_has(member, other_member):
    points_award(member=member, amount=3, reason="x", idempotency_key="a")
    result = points_deduct(member=member, amount=10, reason="spam", idempotency_key="d")
    assert result is not None and result.entry.spendable_delta == -3
    assert points_deduct(member=other_member, amount=10, reason="spam", idempotency_key="d2") is None
    balance = selectors.balance_for_member(member=member)
    assert (balance.lifetime, balance.spendable) == (0, 0)
    assert_balances_match_ledger()


def test_reversal_is_a_new_entry_and_happens_once(member, operator):
    award = points_award(member=member, amount=7, reason="mistake", idempotency_key="a").entry
    reversal = points_reverse(entry=award, actor=operator.user, reason="granted by mistake")
    again = points_reverse(entry=award, actor=operator.user, reason="twice")
    assert reversal.created and not again.created
    award.refresh_from_db()
    assert award.lifetime_delta == 7  # the original is never edited
    assert selectors.balance_for_member(member=member).lifetime == 0
    assert AuditLog.objects.filter(action="points.reversal", actor=operator.user).count() == 1
    with pytest.raises(ServiceError):
        points_reverse(entry=reversal.entry, actor=operator.user, reason="undo the undo")


def test_bulk_award_skips_used_keys_and_updates_balances(django_assert_max_num_queries):
    members = MemberFactory.create_batch(5)
    points_award(member=members[0], amount=5, reason="earlier", idempotency_key="event:1:m0")
    awards = [
        BulkAward(member_id=m.pk, amount=5, idempotency_key=f"event:1:m{i}", reason="attended")
        for i, m in enumerate(members)
    ]
    assert points_award_bulk(awards=awards, batch_size=2) == 4
    assert points_award_bulk(awards=awards) == 0
    assert [selectors.balance_for_member(member=m).lifetime for m in members] == [5] * 5
    assert_balances_match_ledger()


def test_database_refuses_a_negative_spendable_balance(member):
    from django.db import IntegrityError, transaction

    points_award(member=member, amount=1, reason="x", idempotency_key="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        PointBalance.objects.filter(member=member).update(spendable=-1)


# --- races: real threads, real transactions ------------------------------------------------------------------

needs_row_locks = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrency is proven on PostgreSQL (SQLite serialises writers)"
)


def _run_parallel(count: int, workers: int, fn) -> list:
    barrier = threading.Barrier(workers)
    results: list = []
    lock = threading.Lock()

    def call(i: int) -> None:
        try:
            if i < workers:
                barrier.wait()
            outcome = fn(i)
        except Exception as exc:  # collected and asserted on by the test
            outcome = exc
        finally:
            connections.close_all()
        with lock:
            results.append(outcome)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(call, range(count)))
    return results


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_the_same_award_retried_100_times_in_parallel_lands_once():
    member = MemberFactory()
    results = _run_parallel(
        100, 20, lambda i: points_award(member=member, amount=5, reason="retry", idempotency_key="same-award")
    )
    assert all(not isinstance(r, Exception) for r in results), [r for r in results if isinstance(r, Exception)]
    assert sum(r.created for r in results) == 1
    assert PointEntry.objects.filter(member=member).count() == 1
    assert selectors.balance_for_member(member=member).spendable == 5
    assert_balances_match_ledger()


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_parallel_spends_never_overdraw():
    member = MemberFactory()
    points_award(member=member, amount=100, reason="start", idempotency_key="start")
    results = _run_parallel(
        50, 16, lambda i: points_spend(member=member, amount=7, reason="race", idempotency_key=f"spend-{i}")
    )
    spent = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(spent) == 100 // 7 and len(spent) + len(refused) == 50
    assert selectors.balance_for_member(member=member).spendable == 100 - 7 * len(spent)
    assert_balances_match_ledger()


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_parallel_awards_to_one_member_are_all_counted():
    member = MemberFactory()
    results = _run_parallel(
        200, 16, lambda i: points_award(member=member, amount=3, reason="many", idempotency_key=f"many-{i}")
    )
    assert [r for r in results if isinstance(r, Exception)] == []
    balance = selectors.balance_for_member(member=member)
    assert (balance.lifetime, balance.spendable) == (600, 600)
    assert_balances_match_ledger()


def test_nightly_verification_reports_drift_without_correcting_it(member, other_member):
    from rewards.tasks.ledger import ledger_verify

    points_award(member=member, amount=10, reason="x", idempotency_key="a")
    points_award(member=other_member, amount=4, reason="x", idempotency_key="b")
    assert ledger_verify.delay().get() == 0
    PointBalance.objects.filter(member=member).update(lifetime=11)
    assert ledger_verify.delay().get() == 1
    record = AuditLog.objects.get(action="points.ledger_drift")
    assert record.after["members"] == [
        {"member_id": member.pk, "lifetime": 11, "spendable": 10, "ledger_lifetime": 10, "ledger_spendable": 10}
    ]
    assert PointBalance.objects.get(member=member).lifetime == 11
