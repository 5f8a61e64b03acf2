"""The ledger's references (member, rule, source type, actor, reversed entry), enforced by the database: an entry
naming a row that is not there is refused, and a row the ledger names cannot be deleted. On PostgreSQL a trigger
checks each statement's rows at once (migration 0005) instead of a foreign key checking row by row."""

from __future__ import annotations

import threading

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, connections, transaction

from members.models import Member
from rewards.models import PointEntry, PointRule
from rewards.services import BulkAward, points_award, points_award_bulk, points_reverse
from tests.factories import MemberFactory, UserFactory

needs_triggers = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the statement-level reference checks are PostgreSQL's"
)
pytestmark = [needs_triggers, pytest.mark.django_db]

MISSING = 987_654_321


def _insert_entry(**references) -> None:
    """One entry by raw SQL, as any client of the database could write it."""
    columns = {"member_id": None, "rule_id": None, "source_type_id": None, "actor_id": None, "reverses_id": None}
    columns.update(references)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PointEntry._meta.db_table} (kind, lifetime_delta, spendable_delta, reason, source_id, "  # noqa: S608
            "idempotency_key, created_at, member_id, rule_id, source_type_id, actor_id, reverses_id) "
            "VALUES ('earn', 1, 1, 'raw', '', %s, now(), %s, %s, %s, %s, %s)",
            [f"raw-{sorted(references.items())}", *columns.values()],
        )


def _check_deferred() -> None:
    """What commit would do: run the deferred checks now."""
    connection.check_constraints()


@pytest.mark.parametrize("column", ["member_id", "rule_id", "source_type_id", "actor_id", "reverses_id"])
def test_an_entry_naming_a_missing_row_is_refused(member, column):
    references = {"member_id": member.pk, column: MISSING}
    with pytest.raises(IntegrityError, match=column), transaction.atomic():
        _insert_entry(**references)
    assert not PointEntry.objects.exists()


def test_an_entry_naming_existing_rows_is_accepted(member, operator):
    rule = PointRule.objects.create(name="Attending", verb="event_attended", points=7)
    award = points_award(member=member, amount=5, reason="x", idempotency_key="first").entry
    _insert_entry(
        member_id=member.pk,
        rule_id=rule.pk,
        source_type_id=ContentType.objects.get_for_model(Member).pk,
        actor_id=operator.user.pk,
        reverses_id=award.pk,
    )
    _check_deferred()
    assert PointEntry.objects.filter(reverses=award, rule=rule, actor=operator.user).count() == 1


def test_one_bad_row_refuses_the_whole_bulk_award(member, other_member):
    awards = [
        BulkAward(member_id=member.pk, amount=1, idempotency_key="a", reason="x"),
        BulkAward(member_id=MISSING, amount=1, idempotency_key="b", reason="x"),
        BulkAward(member_id=other_member.pk, amount=1, idempotency_key="c", reason="x"),
    ]
    with pytest.raises(IntegrityError, match="member_id"):
        points_award_bulk(awards=awards)
    assert not PointEntry.objects.exists()


def test_moving_an_entry_to_a_missing_member_is_refused(member):
    entry = points_award(member=member, amount=5, reason="x", idempotency_key="k").entry
    with pytest.raises(IntegrityError, match="member_id"), transaction.atomic():
        PointEntry.objects.filter(pk=entry.pk).update(member_id=MISSING)
    assert PointEntry.objects.get(pk=entry.pk).member_id == member.pk


def _raw_delete(table: str, pk: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])  # noqa: S608


def test_rows_the_ledger_names_cannot_be_deleted(member, operator):
    rule = PointRule.objects.create(name="Attending", verb="event_attended", points=7)
    source_type = ContentType.objects.create(app_label="rewards_test", model="gone")
    award = points_award(member=member, amount=5, reason="x", idempotency_key="first").entry
    _insert_entry(member_id=member.pk, rule_id=rule.pk, source_type_id=source_type.pk, actor_id=operator.user.pk)
    reversal = points_reverse(entry=award, actor=operator.user, reason="undo").entry
    for table, pk in (
        (PointRule._meta.db_table, rule.pk),
        (ContentType._meta.db_table, source_type.pk),
        (operator.user._meta.db_table, operator.user.pk),
        (PointEntry._meta.db_table, award.pk),
    ):
        with pytest.raises(IntegrityError, match=r"still referenced|violates"), transaction.atomic():
            _raw_delete(table, pk)
            _check_deferred()
    assert PointEntry.objects.filter(pk=award.pk).exists() and reversal.reverses_id == award.pk
    # The member's other references (its balance) refuse too; the ledger's own check is the last word.
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_delete(Member._meta.db_table, member.pk)
        _check_deferred()


def test_a_referenced_row_deleted_and_put_back_in_one_transaction_is_fine(member):
    rule = PointRule.objects.create(name="Attending", verb="event_attended", points=7)
    _insert_entry(member_id=member.pk, rule_id=rule.pk)
    with transaction.atomic():
        _raw_delete(PointRule._meta.db_table, rule.pk)
        rule.save(force_insert=True)
        _check_deferred()
    assert PointEntry.objects.filter(rule=rule).count() == 1


def test_unreferenced_rows_delete_as_before(member):
    rule = PointRule.objects.create(name="Unused", verb="event_attended", points=7)
    points_award(member=member, amount=5, reason="x", idempotency_key="k")
    rule.delete()
    _check_deferred()
    assert not PointRule.objects.filter(pk=rule.pk).exists()


def test_deleting_an_actor_keeps_their_entries_without_them(member):
    user = UserFactory()
    points_award(member=member, amount=5, reason="x", idempotency_key="k", actor=user)
    user.delete()  # SET_NULL: the entry stays, without an actor
    _check_deferred()
    assert PointEntry.objects.get(idempotency_key="k").actor_id is None


# --- a delete racing an award: one of them fails, the ledger never names a missing row -------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rule_deleted_while_a_bulk_award_names_it_is_refused_or_refuses_the_award():
    members = MemberFactory.create_batch(3)
    for first in ("award", "delete"):
        rule = PointRule.objects.create(name=f"Doomed {first}", verb="event_attended", points=7)
        started, outcomes = threading.Event(), {}

        def award(rule=rule, first=first, started=started, outcomes=outcomes) -> None:
            try:
                with transaction.atomic():
                    if first == "delete":
                        started.wait(5)
                    points_award_bulk(
                        awards=[
                            BulkAward(
                                member_id=m.pk, amount=2, idempotency_key=f"{first}-{m.pk}", reason="x", rule=rule
                            )
                            for m in members
                        ]
                    )
                    if first == "award":
                        started.set()
                        threading.Event().wait(0.3)  # the delete queues behind this award's lock meanwhile
                outcomes["award"] = "ok"
            except Exception as error:  # asserted on below
                outcomes["award"] = error
            finally:
                connections.close_all()

        def delete(rule=rule, first=first, started=started, outcomes=outcomes) -> None:
            try:
                with transaction.atomic():
                    if first == "award":
                        started.wait(5)
                    _raw_delete(PointRule._meta.db_table, rule.pk)
                    if first == "delete":
                        started.set()
                        threading.Event().wait(0.3)  # the award queues behind this delete meanwhile
                outcomes["delete"] = "ok"
            except Exception as error:  # asserted on below
                outcomes["delete"] = error
            finally:
                connections.close_all()

        threads = [threading.Thread(target=award), threading.Thread(target=delete)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        winner, loser = ("award", "delete") if first == "award" else ("delete", "award")
        assert outcomes[winner] == "ok"
        assert isinstance(outcomes[loser], IntegrityError), outcomes
        entries = PointEntry.objects.filter(rule_id=rule.pk).count()
        assert PointRule.objects.filter(pk=rule.pk).exists() == (first == "award")
        assert entries == (len(members) if first == "award" else 0)
