"""Levels: immediate promotion with a notification and a stream entry, demotion only after the grace period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from community import services as community_services
from community.models import Activity, AuditLog, Notification
from rewards.models import Level, MemberLevel, Privilege
from rewards.selectors.points import points_summary_for_member
from rewards.services import levels as level_services
from rewards.services.ledger import points_award, points_deduct
from tests.factories import MemberFactory
from tests.rewards.factories_points import (
    LevelFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ladder(db):
    return {
        "newcomer": LevelFactory(name="Newcomer", threshold=0),
        "active": LevelFactory(name="Active", threshold=100, demotion_grace_days=30),
        "core": LevelFactory(
            name="Core",
            threshold=500,
            privileges=[Privilege.EARLY_ACCESS, Privilege.SHOP_DISCOUNT],
            shop_discount_percent=5,
        ),
    }


def award(member, amount, key):
    return points_award(member=member, amount=amount, reason="test", idempotency_key=key)


def level_of(member):
    return MemberLevel.objects.select_related("level").get(member=member).level.name


def test_promotion_is_immediate_notified_and_on_the_stream(member, ladder):
    award(member, 5, "a")
    assert level_of(member) == "Newcomer"
    assert not Notification.objects.filter(kind="level_up").exists()  # the entry level is not news

    award(member, 100, "b")
    assert level_of(member) == "Active"
    notification = Notification.objects.get(member=member, kind="level_up")
    assert notification.title == "You reached the Active level!"
    assert notification.url == reverse("rewards:points")
    reached = Activity.objects.get(member=member, verb="level_reached")
    assert reached.data == {"level": "Active", "level_id": ladder["active"].pk, "threshold": 100}


def test_a_big_award_jumps_straight_to_the_highest_level_reached(member, ladder):
    award(member, 650, "big")
    assert level_of(member) == "Core"
    notification = Notification.objects.get(member=member, kind="level_up")
    assert "Core" in notification.title and "5% off" in notification.body
    assert Activity.objects.filter(member=member, verb="level_reached").count() == 1


def test_falling_below_keeps_the_level_until_the_grace_period_is_over(member, ladder):
    award(member, 120, "a")
    points_deduct(member=member, amount=50, reason="penalty", idempotency_key="d")
    member_level = MemberLevel.objects.get(member=member)
    assert member_level.level.name == "Active" and member_level.below_since is not None

    early = level_services.levels_review(now=member_level.below_since + timedelta(days=29))
    assert (early.demoted, level_of(member)) == (0, "Active")
    due = level_services.levels_review(now=member_level.below_since + timedelta(days=30, minutes=1))
    assert (due.demoted, level_of(member)) == (1, "Newcomer")
    assert MemberLevel.objects.get(member=member).below_since is None
    demotion = AuditLog.objects.get(action="member_level.demote")
    assert (demotion.before["level"], demotion.after["level"]) == (ladder["active"].pk, ladder["newcomer"].pk)
    assert level_services.levels_review(now=timezone.now() + timedelta(days=90)).demoted == 0  # idempotent


def test_catching_up_during_the_grace_period_keeps_the_level(member, ladder):
    award(member, 120, "a")
    points_deduct(member=member, amount=50, reason="penalty", idempotency_key="d")
    assert MemberLevel.objects.get(member=member).below_since is not None
    award(member, 40, "b")
    assert MemberLevel.objects.get(member=member).below_since is None
    assert level_services.levels_review(now=timezone.now() + timedelta(days=60)).demoted == 0
    assert level_of(member) == "Active"


def test_an_activity_condition_holds_back_promotion_and_later_starts_demotion(member, ladder):
    LevelFactory(name="Super", threshold=2000, min_active_days=3, active_days_window=30)
    award(member, 2500, "a")
    assert level_of(member) == "Core"  # enough points, but not active on 3 days
    today = timezone.now()
    for days_ago in (1, 2, 3):
        community_services.record_activity(
            member=member, verb="question_answered", occurred_at=today - timedelta(days=days_ago)
        )
    award(member, 1, "b")
    assert level_of(member) == "Super"

    # Two months later with no activity: the daily review starts the grace period, then moves them down.
    later = today + timedelta(days=60)
    review = level_services.levels_review(now=later)
    assert review.marked_below == 1 and level_of(member) == "Super"
    level_services.levels_review(now=later + timedelta(days=31))
    assert level_of(member) == "Core"


def test_evaluating_many_members_takes_a_constant_number_of_queries(ladder, django_assert_max_num_queries):
    def members_with_points(count):
        members = MemberFactory.create_batch(count)
        for index, member in enumerate(members):
            award(member, 150, f"m{member.pk}-{index}")
        return [m.pk for m in members]

    few, many = members_with_points(2), members_with_points(30)
    with django_assert_max_num_queries(3):
        assert level_services.levels_evaluate(member_ids=few) == []
    with django_assert_max_num_queries(3):
        assert level_services.levels_evaluate(member_ids=many) == []


def test_progress_to_the_next_level(member, ladder):
    award(member, 300, "a")
    summary = points_summary_for_member(member=member)
    assert (summary.level.name, summary.next_level.name) == ("Active", "Core")
    assert (summary.progress_percent, summary.points_to_next) == (50, 200)
    newcomer = points_summary_for_member(member=MemberFactory())
    assert (newcomer.level.name, newcomer.next_level.name, newcomer.progress_percent) == ("Newcomer", "Active", 0)


def test_default_levels_install_once():
    assert level_services.levels_install_defaults() == 4
    assert level_services.levels_install_defaults() == 0
    assert list(Level.objects.values_list("name", "threshold")) == [
        ("Newcomer", 0),
        ("Active", 100),
        ("Core", 500),
        ("Super", 2000),
    ]
    assert Level.objects.get(name="Super").privilege_labels()[-1] == "10% off in the rewards shop"


def test_old_idempotency_records_are_pruned(operator):
    from rewards.models import IdempotencyRecord
    from rewards.tasks.points import idempotency_records_prune

    old = IdempotencyRecord.objects.create(
        user=operator.user,
        key="old",
        request_fingerprint="0" * 64,
        response_status=201,
        created_at=timezone.now() - timedelta(days=31),
    )
    recent = IdempotencyRecord.objects.create(
        user=operator.user, key="new", request_fingerprint="0" * 64, response_status=201
    )
    assert idempotency_records_prune.delay().get() == 1
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not IdempotencyRecord.objects.filter(pk=old.pk).exists()


def test_the_daily_task_runs_the_review(member, ladder):
    from rewards.tasks.points import levels_review_daily

    award(member, 120, "a")
    MemberLevel.objects.filter(member=member).update(below_since=timezone.now() - timedelta(days=40))
    assert levels_review_daily.delay().get() == {"marked_below": 0, "demoted": 0, "kept": 1}  # still qualifies
    points_deduct(member=member, amount=50, reason="penalty", idempotency_key="d")
    MemberLevel.objects.filter(member=member).update(below_since=timezone.now() - timedelta(days=40))
    assert levels_review_daily.delay().get() == {"marked_below": 0, "demoted": 1, "kept": 0}


# --- the levels page and API ------------------------------------------------------------------------------------


def test_levels_page_lists_levels_and_privileges(web_member, member, ladder, django_assert_num_queries):
    url = reverse("rewards:levels")
    award(member, 120, "a")
    response = web_member.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Early access to new features" in body and "5% off in the rewards shop" in body
    assert "your level" in body
    few = _queries(web_member, url)
    for index in range(10):
        LevelFactory(threshold=10_000 + index, privileges=["priority_support"])
    with django_assert_num_queries(few):
        assert web_member.get(url).content.decode().count("Priority support") == 10


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return len(captured.captured_queries)


def test_levels_page_needs_sign_in_and_shows_operators_their_own_level(client, web_operator, ladder):
    assert "your level" in web_operator.get(reverse("rewards:levels")).content.decode()  # the entry level
    client.logout()
    response = client.get(reverse("rewards:levels"))
    assert response.status_code == 302 and "/accounts/login/" in response.url


LEVELS_URL = "/api/v1/levels/"


def test_levels_api_personas(api_anon, api_member, api_operator, ladder):
    assert api_anon.get(LEVELS_URL).status_code == 401
    for client in (api_member, api_operator):
        response = client.get(LEVELS_URL)
        assert response.status_code == 200
        assert [row["name"] for row in response.json()["results"]] == ["Newcomer", "Active", "Core"]
    core = api_member.get(f"{LEVELS_URL}{ladder['core'].pk}/").json()
    assert core["privileges"] == ["early_access", "shop_discount_percent"] and core["shop_discount_percent"] == 5
    assert api_member.get(f"{LEVELS_URL}999999/").status_code == 404
    assert api_member.post(LEVELS_URL, {"name": "Mine", "threshold": 1}).status_code == 405


def test_levels_api_query_count_is_constant(api_member, ladder, django_assert_num_queries):
    few = _api_queries(api_member)
    LevelFactory.create_batch(15)
    with django_assert_num_queries(few):
        response = api_member.get(LEVELS_URL)
    assert response.json()["count"] == 18 and few <= 4


def _api_queries(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(LEVELS_URL)
    return len(captured.captured_queries)


# --- admin -------------------------------------------------------------------------------------------------------


def test_operator_adds_a_level_with_privileges_in_the_admin(web_operator):
    response = web_operator.post(
        reverse("admin:rewards_level_add"),
        {
            "name": "Gold",
            "threshold": "1000",
            "description": "",
            "min_active_days": "",
            "active_days_window": "30",
            "privileges": ["early_access", "shop_discount_percent"],
            "shop_discount_percent": "15",
            "demotion_grace_days": "14",
        },
    )
    assert response.status_code == 302
    level = Level.objects.get(name="Gold")
    assert (level.privileges, level.shop_discount_percent) == (["early_access", "shop_discount_percent"], 15)
    assert AuditLog.objects.filter(action="rewards.level.add.admin").exists()


def test_member_levels_and_check_ins_are_read_only_in_the_admin(web_operator):
    assert web_operator.get(reverse("admin:rewards_memberlevel_changelist")).status_code == 200
    assert web_operator.get(reverse("admin:rewards_checkin_changelist")).status_code == 200
    assert web_operator.get(reverse("admin:rewards_streakbonus_changelist")).status_code == 200
    assert web_operator.get(reverse("admin:rewards_memberlevel_add")).status_code == 403
    assert web_operator.get(reverse("admin:rewards_checkin_add")).status_code == 403


def test_a_demotion_is_announced_as_a_level_change_down(member, ladder, django_capture_on_commit_callbacks):
    from community import domain_events

    seen = []
    listener = domain_events.subscribe(lambda event_type, data: seen.append((event_type, data)))
    try:
        award(member, 120, "a")
        points_deduct(member=member, amount=50, reason="penalty", idempotency_key="d")
        below_since = MemberLevel.objects.get(member=member).below_since
        with django_capture_on_commit_callbacks(execute=True):
            level_services.levels_review(now=below_since + timedelta(days=31))
    finally:
        domain_events._LISTENERS.remove(listener)
    changes = [data for event_type, data in seen if event_type == "level.changed"]
    assert changes == [
        {
            "member_id": member.pk,
            "level_id": ladder["newcomer"].pk,
            "level": "Newcomer",
            "previous_level_id": ladder["active"].pk,
            "direction": "down",
        }
    ]


def test_an_award_that_crosses_no_threshold_does_not_look_at_levels(member, ladder):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    award(member, 120, "first")  # Active, with a level row
    with CaptureQueriesContext(connection) as queries:
        award(member, 10, "second")  # 120 → 130 crosses nothing
    assert any("INSERT INTO rewards_pointentry" in query["sql"] for query in queries.captured_queries)
    read = " ".join(query["sql"] for query in queries.captured_queries if not _balance_move(query["sql"]))
    assert "rewards_memberlevel" not in read and "rewards_badge" not in read and "community_activity" not in read
    assert level_of(member) == "Active"
    award(member, 400, "third")  # 130 → 530 crosses Core: the ladder is evaluated
    assert level_of(member) == "Core"


def _balance_move(sql: str) -> bool:
    # The balance update itself (on PostgreSQL one statement with the entry insert) may bring back the member's
    # level: that is not a level check.
    return sql.startswith(
        (
            "UPDATE rewards_pointbalance",
            "WITH b AS (UPDATE rewards_pointbalance",
            "WITH b AS (INSERT INTO rewards_pointbalance",
        )
    )


def _level_checks(queries) -> list[str]:
    return [
        q["sql"] for q in queries.captured_queries if "rewards_memberlevel" in q["sql"] and not _balance_move(q["sql"])
    ]


def test_above_an_activity_level_an_award_is_checked_only_when_the_level_could_change(member, ladder):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    LevelFactory(name="Super", threshold=2000, min_active_days=3, active_days_window=30)
    award(member, 600, "core")  # Core
    award(member, 1500, "past super")  # 2100 points but not active: held at Core
    assert level_of(member) == "Core"
    today = timezone.now()
    for days_ago in (1, 2, 3):
        community_services.record_activity(
            member=member, verb="question_answered", occurred_at=today - timedelta(days=days_ago)
        )
    with CaptureQueriesContext(connection) as held_back:
        award(member, 1, "now active")  # held back: the ladder is evaluated, and the activity now qualifies
    assert _level_checks(held_back) and level_of(member) == "Super"

    with CaptureQueriesContext(connection) as settled:
        award(member, 1, "more")  # holds the level the points reach: nothing to evaluate
    if connection.vendor == "postgresql":
        assert _level_checks(settled) == []
    assert level_of(member) == "Super"

    MemberLevel.objects.filter(member=member).update(below_since=today)  # in a grace period
    with CaptureQueriesContext(connection) as in_grace:
        award(member, 1, "while below")
    assert _level_checks(in_grace)
    assert MemberLevel.objects.get(member=member).below_since is None  # qualifies again: the grace period ends


def test_many_promotions_at_once_are_told_by_a_worker_once(ladder, django_capture_on_commit_callbacks):
    from rewards.services.ledger import BulkAward, points_award_bulk

    members = MemberFactory.create_batch(level_services.ANNOUNCE_INLINE_MAX + 5)
    with django_capture_on_commit_callbacks(execute=True):
        points_award_bulk(
            awards=[BulkAward(member_id=m.pk, amount=150, reason="event", idempotency_key=f"k{m.pk}") for m in members]
        )
    assert {level_of(m) for m in members} == {"Active"}
    assert Notification.objects.filter(kind="level_up").count() == len(members)  # the task ran (eagerly) on commit
    assert Activity.objects.filter(verb="level_reached").count() == len(members)
    promotions = [(m.pk, ladder["active"].pk) for m in members]
    assert level_services.levels_notify_promoted(promotions=promotions) == 0  # a re-run tells nobody twice
    assert Notification.objects.filter(kind="level_up").count() == len(members)
