"""A promotion inside an award: written from what the posting read, announced once, and safe when that read was
older than the member's level (a concurrent change the posting waited for)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from community import activity_hooks, domain_events
from community.models import Activity, Notification
from members.models import Member
from rewards.models import MemberLevel, PointBalance
from rewards.services import levels as level_services
from rewards.services.ledger import points_award
from tests.rewards.factories_points import LevelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ladder(db):
    return {
        "newcomer": LevelFactory(name="Newcomer", threshold=0),
        "active": LevelFactory(name="Active", threshold=100),
        "core": LevelFactory(name="Core", threshold=500),
    }


@pytest.fixture
def events():
    seen: list[tuple[str, dict]] = []
    listener = domain_events.subscribe(lambda event_type, data: seen.append((event_type, data)))
    yield seen
    domain_events._LISTENERS.remove(listener)


@pytest.fixture
def hooked(monkeypatch):
    """The activities the stream's hooks were handed, besides the registered hooks themselves."""
    seen: list[Activity] = []
    monkeypatch.setattr(activity_hooks, "_HOOKS", [*activity_hooks._HOOKS, seen.extend])
    return seen


def _level_of(member: Member) -> str:
    return MemberLevel.objects.select_related("level").get(member=member).level.name


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the posting reads the level on PostgreSQL only")
def test_a_promoting_award_takes_four_statements(
    member, other_member, ladder, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # A warm process: the content type and the rules for "level_reached" are cached by an earlier promotion.
    points_award(member=other_member, amount=150, reason="warm", idempotency_key="warm")
    points_award(member=member, amount=60, reason="start", idempotency_key="start")  # Newcomer
    member = Member.objects.select_related("user").get(pk=member.pk)  # as a request holds it
    # The posting (balance and entry), the level update, the "level_reached" row and the message: no read of
    # the member's state, no savepoint, no second load of the member.
    with django_assert_num_queries(4), django_capture_on_commit_callbacks():
        points_award(member=member, amount=60, reason="up", idempotency_key="up")
    assert _level_of(member) == "Active"


def test_a_promotion_is_recorded_announced_and_told_once(
    member, ladder, events, hooked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        points_award(member=member, amount=60, reason="start", idempotency_key="start")
        points_award(member=member, amount=60, reason="up", idempotency_key="up")
        points_award(member=member, amount=5, reason="more", idempotency_key="more")  # crosses nothing
    assert _level_of(member) == "Active"
    reached = Activity.objects.get(member=member, verb="level_reached")
    level_row = MemberLevel.objects.get(member=member)
    assert reached.dedupe_key == level_services.level_reached_key(
        member_id=member.pk, level_id=ladder["active"].pk, reached_at=level_row.reached_at
    )
    assert reached.data == {"level": "Active", "level_id": ladder["active"].pk, "threshold": 100}
    assert reached.target_id == str(ladder["active"].pk) and reached.target_type.model == "level"
    assert [activity.pk for activity in hooked if activity.verb == "level_reached"] == [reached.pk]
    assert Notification.objects.filter(member=member, kind=level_services.LEVEL_UP.key).count() == 1
    changes = [data for event_type, data in events if event_type == "level.changed"]
    assert changes == [
        {
            "member_id": member.pk,
            "level_id": ladder["active"].pk,
            "level": "Active",
            "previous_level_id": ladder["newcomer"].pk,
            "direction": "up",
        }
    ]


def test_a_promotion_whose_key_is_recorded_adds_nothing_to_the_stream(member, ladder, hooked):
    points_award(member=member, amount=60, reason="start", idempotency_key="start")
    now = timezone.now()
    key = level_services.level_reached_key(member_id=member.pk, level_id=ladder["active"].pk, reached_at=now)
    Activity.objects.create(member=member, verb="level_reached", local_date=now.date(), dedupe_key=key)
    PointBalance.objects.filter(member=member).update(lifetime=150, spendable=150)
    known = {member.pk: level_services.KnownLevel(150, ladder["newcomer"].pk)}
    changes = level_services.levels_evaluate(member_ids=[member.pk], now=now, known=known, members={member.pk: member})
    assert [change.after for change in changes] == [ladder["active"]]
    assert Activity.objects.filter(member=member, verb="level_reached").count() == 1
    assert not [activity for activity in hooked if activity.verb == "level_reached"]


def test_a_level_read_before_a_concurrent_promotion_is_evaluated_afresh(member, ladder, events):
    points_award(member=member, amount=520, reason="start", idempotency_key="start")  # Core at once
    assert _level_of(member) == "Core"
    told = Notification.objects.filter(member=member, kind=level_services.LEVEL_UP.key).count()
    # A posting that read the member's level before the promotion committed still believes they hold Newcomer.
    stale = {member.pk: level_services.KnownLevel(520, ladder["newcomer"].pk)}
    assert level_services.levels_evaluate(member_ids=[member.pk], known=stale) == []
    assert _level_of(member) == "Core"
    assert Activity.objects.filter(member=member, verb="level_reached").count() == 1
    assert Notification.objects.filter(member=member, kind=level_services.LEVEL_UP.key).count() == told


def test_a_known_member_below_their_level_is_evaluated_as_before(member, ladder):
    points_award(member=member, amount=120, reason="start", idempotency_key="start")  # Active
    MemberLevel.objects.filter(member=member).update(below_since=timezone.now() - timedelta(days=3))
    # The points reach the level held: no promotion, and a fresh read ends the grace period.
    known = {member.pk: level_services.KnownLevel(120, ladder["active"].pk)}
    assert level_services.levels_evaluate(member_ids=[member.pk], known=known) == []
    assert MemberLevel.objects.get(member=member).below_since is None
    # Promoted while below: the grace period of the level left behind ends with it.
    MemberLevel.objects.filter(member=member).update(below_since=timezone.now() - timedelta(days=3))
    PointBalance.objects.filter(member=member).update(lifetime=600, spendable=600)
    known = {member.pk: level_services.KnownLevel(600, ladder["active"].pk)}
    changes = level_services.levels_evaluate(member_ids=[member.pk], known=known)
    assert [(change.before, change.after) for change in changes] == [(ladder["active"], ladder["core"])]
    level_row = MemberLevel.objects.select_related("level").get(member=member)
    assert level_row.level.name == "Core" and level_row.below_since is None
    assert Activity.objects.filter(member=member, verb="level_reached", data__level="Core").count() == 1
