"""The per-award path's shortcuts: prepared statements, the cap count read with its lock, a first level inserted
without a read, and the award API's validation without a serializer. Each must behave as the long way did."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework import exceptions

from community.db import prepared_cursor
from community.models import Activity, Notification
from community.services import record_activity
from rewards.api.points import PointChangeSerializer, _point_change
from rewards.models import MemberLevel, PointEntry
from rewards.services import levels as level_services
from rewards.services import rules as rule_services
from rewards.services.ledger import points_award
from tests.factories import MemberFactory
from tests.rewards.factories_points import LevelFactory, PointRuleFactory, local_moment
from tests.rewards.test_ledger import needs_row_locks

pytestmark = pytest.mark.django_db


def test_a_prepared_statement_is_logged_with_its_values():
    with CaptureQueriesContext(connection) as queries, prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int + %s::int", [20, 22])
        assert cursor.fetchone()[0] == 42
    assert "20" in queries.captured_queries[-1]["sql"]
    assert "22" in queries.captured_queries[-1]["sql"]


def test_an_activity_is_stored_as_the_model_would_store_it(member):
    moment = local_moment(member, 2026, 5, 4, 23, 30)
    activity = record_activity(member=member, verb="survey_answered", occurred_at=moment, data={"n": [1, "x"]})
    stored = Activity.objects.get(pk=activity.pk)
    assert (stored.member_id, stored.verb, stored.data, stored.occurred_at) == (
        member.pk,
        "survey_answered",
        {"n": [1, "x"]},
        moment,
    )
    assert stored.local_date == activity.local_date and stored.recorded_at == activity.recorded_at
    assert stored.target_type_id is None and stored.target_id == "" and stored.dedupe_key is None


def test_an_award_entry_carries_its_relations_without_queries(member):
    rule = PointRuleFactory(verb="survey_answered", points=5)
    activity = record_activity(member=member, verb="survey_answered")
    entry = PointEntry.objects.get(source_id=str(activity.pk))
    result = points_award(member=member, amount=3, reason="again", idempotency_key="hot-path-1", rule=rule)
    with CaptureQueriesContext(connection) as queries:
        assert result.entry.member is member and result.entry.rule is rule and result.entry.actor is None
    assert queries.captured_queries == []
    assert entry.rule_id == rule.pk and entry.rule_version == rule.version and entry.kind == PointEntry.Kind.EARN


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_the_cap_count_sees_a_posting_its_lock_waited_for():
    """The count read with the lock comes from a snapshot taken before the lock was granted; when the lock had to
    wait for a posting, it is read again."""
    rule = PointRuleFactory(verb="question_answered", points=5, daily_cap=3)
    member = MemberFactory()
    moment = local_moment(member, 2026, 6, 1, 10)
    first = record_activity(member=member, verb="question_answered", occurred_at=moment)
    key = rule_services.rule_award_key_for(rule_id=rule.pk, local_date=first.local_date, activity_id=first.pk + 1000)
    week = rule_services._week_prefix(rule.pk, first.local_date)
    day = f"{week}{first.local_date.isoformat()}:"
    posted, release = threading.Event(), threading.Event()

    def hold_a_posting() -> None:
        try:
            with transaction.atomic():
                points_award(
                    member=member,
                    amount=5,
                    reason=rule.name,
                    idempotency_key=f"{day}activity:999999",
                    rule=rule,
                )
                posted.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_a_posting)
    holder.start()
    assert posted.wait(10)
    counted: list = []

    def count() -> None:
        try:
            with transaction.atomic():
                counted.append(
                    rule_services._earlier_awards(
                        member_id=member.pk, rule_id=rule.pk, week_prefix=week, day_prefix=day, key=key
                    )
                )
        finally:
            connections.close_all()

    counter = threading.Thread(target=count)
    counter.start()
    counter.join(0.5)
    assert counter.is_alive()  # waiting for the balance row
    release.set()
    holder.join(10)
    counter.join(10)
    total, this_week, today, _last = counted[0]
    assert (total, this_week, today) == (2, 2, 2)  # the first award and the one it waited for


def test_a_members_first_points_give_the_entry_level_once(member):
    entry = LevelFactory(name="Newcomer", threshold=0)
    LevelFactory(name="Active", threshold=100)
    points_award(member=member, amount=5, reason="first", idempotency_key="first-level-1")
    assert MemberLevel.objects.get(member=member).level_id == entry.pk
    # A posting that believed the member had no level finds the row and evaluates them as usual.
    changes = level_services.levels_evaluate(member_ids=[member.pk], unleveled={member.pk: 5})
    assert changes == []
    assert MemberLevel.objects.filter(member=member).count() == 1


def test_a_first_level_reached_at_once_is_announced_once(member):
    LevelFactory(name="Newcomer", threshold=0)
    active = LevelFactory(name="Active", threshold=100)
    points_award(member=member, amount=150, reason="big start", idempotency_key="first-level-2")
    assert MemberLevel.objects.get(member=member).level_id == active.pk
    assert Notification.objects.filter(member=member, kind=level_services.LEVEL_UP.key).count() == 1
    assert level_services.levels_evaluate(member_ids=[member.pk], unleveled={member.pk: 150}) == []
    assert Notification.objects.filter(member=member, kind=level_services.LEVEL_UP.key).count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {"member": 7, "amount": 10, "reason": "Helped at the meetup"},
        {"member": 7, "amount": 10, "reason": "  padded  ", "extra": "ignored"},
        {"member": 2**63 - 1, "amount": 1_000_000, "reason": "x" * 200},
        {"member": 7, "amount": 10, "reason": "x" * 201},
        {"member": 7, "amount": 10, "reason": "   "},
        {"member": 7, "amount": 10, "reason": "nul\x00"},
        {"member": 7, "amount": 10, "reason": "half \ud800 pair"},
        {"member": 7, "amount": 10, "reason": 5},
        {"member": 7, "amount": True, "reason": "bool"},
        {"member": 7, "amount": 1.0, "reason": "float"},
        {"member": "7", "amount": 10, "reason": "string id"},
        {"member": 0, "amount": 10, "reason": "zero id"},
        {"member": 7, "amount": 0, "reason": "zero"},
        {"member": 7, "amount": 1_000_001, "reason": "too many"},
        {"amount": 10, "reason": "no member"},
        {"member": 7, "amount": 10},
    ],
)
def test_the_award_validation_agrees_with_the_serializer(data):
    serializer = PointChangeSerializer(data=data)
    if serializer.is_valid():
        assert _point_change(data) == dict(serializer.validated_data)
        return
    with pytest.raises(exceptions.ValidationError) as refused:
        _point_change(data)
    assert refused.value.detail == serializer.errors
