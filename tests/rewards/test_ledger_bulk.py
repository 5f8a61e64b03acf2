"""Bulk awards: every value lands as given, keys used once, balances and levels as one-by-one awards would leave
them; and each entry can be reversed only once, enforced by the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from community.errors import ServiceError
from community.models import Activity
from rewards import selectors
from rewards.models import Level, MemberLevel, PointEntry, PointRule
from rewards.services import BulkAward, points_award, points_award_bulk, points_reverse, points_spend
from rewards.services.ledger import Kind, _post
from rewards.services.levels import level_ladder_forget
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _balances(members):
    return [
        (balance.lifetime, balance.spendable)
        for balance in (selectors.balance_for_member(member=member) for member in members)
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 100])
def test_bulk_entries_keep_every_value_as_given(operator, batch_size):
    members = MemberFactory.create_batch(3)
    rule = PointRule.objects.create(name="Attending", verb="event_attended", points=7)
    expiry = timezone.now() + timedelta(days=30)
    awards = [
        # Text that an array literal must quote: quotes, backslashes, commas, braces, NULL spelled out, and empty.
        BulkAward(member_id=members[0].pk, amount=7, idempotency_key='k"1', reason='say "hi", {x}', rule=rule),
        BulkAward(member_id=members[1].pk, amount=3, idempotency_key="k\\2", reason="back\\slash", source=members[2]),
        BulkAward(member_id=members[2].pk, amount=9, idempotency_key="k,3", reason="NULL", expires_at=expiry),
        BulkAward(member_id=members[0].pk, amount=1, idempotency_key="k{4}", reason=""),
    ]
    assert points_award_bulk(awards=awards, actor=operator.user, batch_size=batch_size) == 4
    entries = {entry.idempotency_key: entry for entry in PointEntry.objects.all()}
    assert set(entries) == {award.idempotency_key for award in awards}
    for award in awards:
        entry = entries[award.idempotency_key]
        assert (entry.member_id, entry.lifetime_delta, entry.spendable_delta) == (
            award.member_id,
            award.amount,
            award.amount,
        )
        assert (entry.kind, entry.reason, entry.actor_id) == (Kind.EARN, award.reason, operator.user.pk)
        assert entry.rule_id == (rule.pk if award.rule else None)
        assert entry.rule_version == (rule.version if award.rule else None)
        assert entry.expires_at == award.expires_at
        if award.source is None:
            assert (entry.source_type_id, entry.source_id) == (None, "")
        else:
            assert entry.source_type == ContentType.objects.get_for_model(award.source)
            assert entry.source_id == str(award.source.pk)
    assert _balances(members) == [(8, 8), (3, 3), (9, 9)]


def test_bulk_batch_sharing_every_value_but_the_key(member):
    awards = [BulkAward(member_id=member.pk, amount=2, idempotency_key=f"same:{i}", reason="r") for i in range(5)]
    assert points_award_bulk(awards=awards) == 5
    assert _balances([member]) == [(10, 10)]
    assert set(PointEntry.objects.values_list("reason", "lifetime_delta")) == {("r", 2)}


def test_a_key_twice_in_one_call_awards_once_as_first_given(member):
    awards = [
        BulkAward(member_id=member.pk, amount=5, idempotency_key="dup", reason="first"),
        BulkAward(member_id=member.pk, amount=8, idempotency_key="dup", reason="second"),
        BulkAward(member_id=member.pk, amount=1, idempotency_key="other", reason="other"),
    ]
    assert points_award_bulk(awards=awards) == 2
    assert PointEntry.objects.get(idempotency_key="dup").reason == "first"
    assert _balances([member]) == [(6, 6)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the look-up of used keys is PostgreSQL's")
def test_a_key_taken_after_the_look_up_is_skipped_and_moves_nothing(member, other_member, monkeypatch):
    from rewards.services import ledger_bulk

    points_award(member=other_member, amount=4, reason="x", idempotency_key="taken")
    monkeypatch.setattr(ledger_bulk, "_used_keys", lambda keys: set())  # as if taken just after the look-up
    awards = [
        BulkAward(member_id=member.pk, amount=3, idempotency_key="taken", reason="x"),
        BulkAward(member_id=member.pk, amount=2, idempotency_key="new", reason="x"),
    ]
    assert points_award_bulk(awards=awards) == 1
    assert _balances([member, other_member]) == [(2, 2), (4, 4)]
    assert PointEntry.objects.get(idempotency_key="taken").member_id == other_member.pk


def test_bulk_payloads_match_a_single_award(member, other_member, django_capture_on_commit_callbacks):
    from community import domain_events

    seen = []
    listener = domain_events.subscribe(lambda event_type, data: seen.append((event_type, data)))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            points_award(member=member, amount=4, reason="one", idempotency_key="single")
        with django_capture_on_commit_callbacks(execute=True):
            points_award_bulk(awards=[BulkAward(member_id=other_member.pk, amount=4, idempotency_key="b", reason="x")])
    finally:
        domain_events._LISTENERS.remove(listener)
    awarded = [data for event_type, data in seen if event_type == "points.awarded"]
    assert len(awarded) == 2 and list(awarded[0]) == list(awarded[1])
    entry = PointEntry.objects.get(idempotency_key="b")
    assert awarded[1] == {
        "entry_id": entry.pk,
        "member_id": other_member.pk,
        "points": 4,
        "reason": "x",
        "idempotency_key": "b",
        "created_at": entry.created_at.isoformat(),
    }


def test_bulk_first_points_create_balance_and_first_level(db):
    level_ladder_forget()
    newcomer = Level.objects.create(name="Newcomer", threshold=0)
    active = Level.objects.create(name="Active", threshold=100)
    members = MemberFactory.create_batch(3)
    points_award(member=members[0], amount=1, reason="x", idempotency_key="before")
    awards = [BulkAward(member_id=m.pk, amount=120, idempotency_key=f"e{m.pk}", reason="event") for m in members]
    awards.append(BulkAward(member_id=members[2].pk, amount=5, idempotency_key="small", reason="event"))
    assert points_award_bulk(awards=awards) == 4
    assert _balances(members) == [(121, 121), (120, 120), (125, 125)]
    assert {ml.member_id: ml.level_id for ml in MemberLevel.objects.all()} == {m.pk: active.pk for m in members}
    reached = Activity.objects.filter(verb="level_reached")
    assert reached.count() == 3 and {a.member_id for a in reached} == {m.pk for m in members}
    assert all(a.dedupe_key and a.dedupe_key.startswith("level_reached:") for a in reached)
    assert newcomer.pk not in {a.data["level_id"] for a in reached}


@pytest.mark.parametrize("amount", [0, -1, True, 1.5, 10**10])
def test_bulk_refuses_bad_amounts_before_writing(member, amount):
    awards = [
        BulkAward(member_id=member.pk, amount=1, idempotency_key="ok", reason="x"),
        BulkAward(member_id=member.pk, amount=amount, idempotency_key="bad", reason="x"),
    ]
    with pytest.raises(ServiceError):
        points_award_bulk(awards=awards)
    assert not PointEntry.objects.exists()


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_bulk_refuses_bad_keys_before_writing(member, key):
    with pytest.raises(ServiceError):
        points_award_bulk(awards=[BulkAward(member_id=member.pk, amount=1, idempotency_key=key, reason="x")])
    assert not PointEntry.objects.exists()


# --- reversals: once per entry, by the database's partial unique constraint --------------------------------------


def test_the_database_refuses_a_second_reversal_of_one_entry(member):
    award = points_award(member=member, amount=10, reason="gift", idempotency_key="a").entry
    reversal = {"member": member, "kind": Kind.REVERSAL, "lifetime_delta": -1, "spendable_delta": -1}
    PointEntry.objects.create(**reversal, reason="undo", idempotency_key="r1", reverses=award)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointEntry.objects.create(**reversal, reason="undo again", idempotency_key="r2", reverses=award)
    # Entries that reverse nothing are not limited by it.
    for key in ("n1", "n2"):
        PointEntry.objects.create(
            member=member, kind=Kind.EARN, lifetime_delta=1, spendable_delta=1, idempotency_key=key
        )
    assert PointEntry.objects.filter(reverses__isnull=True).count() == 3


def test_a_second_reversal_under_another_key_is_refused_and_moves_nothing(member, operator):
    award = points_award(member=member, amount=10, reason="gift", idempotency_key="a").entry
    points_reverse(entry=award, actor=operator.user, reason="mistake")
    points_award(member=member, amount=10, reason="later", idempotency_key="b")  # enough points to take again
    with pytest.raises(ServiceError) as refused:
        _post(
            member=member,
            kind=Kind.REVERSAL,
            lifetime_delta=-10,
            spendable_delta=-10,
            reason="again",
            idempotency_key="another-key",
            reverses=award,
        )
    assert refused.value.code == "duplicate"
    assert _balances([member]) == [(10, 10)]
    assert list(award.reversed_by.values_list("idempotency_key", flat=True)) == [f"reversal:{award.pk}"]


# --- one statement per posting --------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement posting is PostgreSQL's")
def test_a_first_award_creates_the_balance_in_its_posting_statement(member):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        points_award(member=member, amount=5, reason="first", idempotency_key="f1")
    ledger_writes = [q["sql"] for q in first.captured_queries if "rewards_point" in q["sql"]]
    assert len(ledger_writes) == 1, ledger_writes  # balance row, balance and entry together
    with CaptureQueriesContext(connection) as spend:
        points_spend(member=member, amount=2, reason="coupon", idempotency_key="s1")
    assert len([q for q in spend.captured_queries if "rewards_point" in q["sql"]]) == 1
    assert _balances([member]) == [(5, 3)]


def test_taking_points_from_a_member_without_a_balance_row_is_refused_and_creates_nothing(member):
    with pytest.raises(ServiceError) as refused:
        points_spend(member=member, amount=1, reason="coupon", idempotency_key="s")
    assert refused.value.code == "insufficient_points"
    assert not PointEntry.objects.exists()
    assert selectors.balance_for_member(member=member).spendable == 0


def test_an_award_to_an_unknown_member_is_refused_cleanly(member):
    ghost = MemberFactory.build(pk=member.pk + 10_000)
    with transaction.atomic():
        with pytest.raises(ServiceError) as refused:
            points_award(member=ghost, amount=1, reason="x", idempotency_key="g")
        # The caller's transaction is still usable.
        points_award(member=member, amount=1, reason="x", idempotency_key="ok")
    assert refused.value.code == "unknown_member"
    assert list(PointEntry.objects.values_list("idempotency_key", flat=True)) == ["ok"]
