"""Badges: criteria evaluated set-based, earned once, manual grants and revocation audited, portal and admin pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from community.errors import ServiceError
from community.models import Activity, AuditLog, Notification
from community.services import record_activity
from rewards.models import Badge, BadgeAward, Level, MemberLevel, MemberStreak
from rewards.models.leaderboards import period_containing
from rewards.services.badges import (
    badge_grant,
    badge_revoke,
    badges_evaluate,
    badges_evaluate_all,
    badges_evaluate_for_activities,
    longest_streaks,
)
from rewards.services.leaderboards import leaderboard_snapshot_freeze
from rewards.tasks.badges import badges_evaluate_all as badges_evaluate_all_task
from tests.factories import MemberFactory
from tests.rewards.factories_badges import BadgeFactory, award, check_in_days, committed, now_shanghai, sql_boards
from tests.rewards.test_ledger import _run_parallel, needs_row_locks

pytestmark = pytest.mark.django_db
__all__ = ["sql_boards"]


@pytest.fixture
def streak_badge(db) -> Badge:
    return BadgeFactory(slug="week-streak", name="7-day streak", tier="silver", criteria={"type": "streak", "days": 7})


def awards_of(member, badge) -> list[BadgeAward]:
    return list(BadgeAward.objects.filter(member=member, badge=badge))


# --- the 7-day streak --------------------------------------------------------------------------------------


def test_a_seven_day_streak_badge_is_awarded_once(member, streak_badge):
    start = now_shanghai().date() - timedelta(days=10)
    six = check_in_days(member, start, 6)
    assert badges_evaluate_for_activities(six) == []
    seventh = check_in_days(member, start + timedelta(days=6), 1)
    earned = badges_evaluate_for_activities(seventh)
    assert [(a.member_id, a.badge_id) for a in earned] == [(member.pk, streak_badge.pk)]
    assert earned[0].evidence == {"longest_streak": 7, "days": 7}
    # Another check-in, the daily job, and the points trigger: still one award.
    badges_evaluate_for_activities(check_in_days(member, start + timedelta(days=7), 1))
    badges_evaluate_all()
    badges_evaluate(member_ids=[member.pk], trigger="activity")
    assert len(awards_of(member, streak_badge)) == 1
    notice = Notification.objects.get(member=member, kind="badge_awarded")
    assert "7-day streak" in notice.title and notice.url == "/rewards/badges/week-streak/"
    assert Activity.objects.filter(member=member, verb="badge_earned", data__badge="week-streak").count() == 1
    assert AuditLog.objects.filter(action="badge.award", object_id=str(earned[0].pk)).exists()


@pytest.fixture(autouse=True)
def _badge_hook_off():
    """Most tests here call the evaluation by hand, so the hook rewards' AppConfig registers is set aside."""
    from community import activity_hooks

    before = list(activity_hooks._HOOKS)
    activity_hooks._HOOKS[:] = [hook for hook in before if hook is not badges_evaluate_for_activities]
    yield
    activity_hooks._HOOKS[:] = before


@pytest.fixture
def badge_hook():
    """The badges activity hook as rewards' AppConfig.ready() registers it."""
    from community import activity_hooks

    activity_hooks.register(badges_evaluate_for_activities)


def test_the_badge_hook_is_registered_by_the_app():
    from community import activity_hooks
    from rewards.apps import RewardsConfig

    activity_hooks._HOOKS.clear()
    RewardsConfig.ready(RewardsConfig.create("rewards"))
    assert badges_evaluate_for_activities in activity_hooks._HOOKS


def test_checking_in_seven_days_running_earns_the_badge_through_the_hook(member, streak_badge, badge_hook):
    start = now_shanghai().date() - timedelta(days=7)
    check_in_days(member, start, 6)
    assert not awards_of(member, streak_badge)
    check_in_days(member, start + timedelta(days=6), 1)
    (held,) = awards_of(member, streak_badge)
    assert Activity.objects.filter(member=member, verb="badge_earned").count() == 1
    check_in_days(member, start + timedelta(days=7), 1)
    assert awards_of(member, streak_badge) == [held]


def test_a_broken_run_does_not_count(member, streak_badge):
    start = now_shanghai().date() - timedelta(days=20)
    check_in_days(member, start, 4)
    check_in_days(member, start + timedelta(days=5), 6)  # a day missed in between
    check_in_days(member, start + timedelta(days=5), 2, hour=20)  # twice on a day is still one day
    assert longest_streaks([member.pk]) == {member.pk: 6}
    assert badges_evaluate(member_ids=[member.pk], trigger="activity") == []


def test_streak_days_are_the_members_own_days(streak_badge):
    """Check-ins at 07:00 in Los Angeles fall on consecutive local days even though in Shanghai they do not."""
    traveller = MemberFactory(time_zone="America/Los_Angeles")
    start = now_shanghai().date() - timedelta(days=9)
    activities = check_in_days(traveller, start, 7, hour=7)
    assert [a.local_date for a in activities] == [start + timedelta(days=i) for i in range(7)]
    assert len(badges_evaluate_for_activities(activities)) == 1


def test_the_check_in_streak_record_counts_too(member, streak_badge):
    MemberStreak.objects.create(member=member, current=2, longest=9)
    assert [a.badge_id for a in badges_evaluate(member_ids=[member.pk], trigger="schedule")] == [streak_badge.pk]


def test_evaluation_is_set_based_for_many_members(streak_badge):
    members = [MemberFactory() for _ in range(8)]
    start = now_shanghai().date() - timedelta(days=8)
    for index, member in enumerate(members):
        check_in_days(member, start, 7 if index % 2 == 0 else 3)
    with CaptureQueriesContext(connection) as captured:
        badges_evaluate(member_ids=[m.pk for m in members[1::2]], trigger="activity")
    assert len(captured) <= 4  # badges, awards held, one streak query, the check-in streak records
    earned = badges_evaluate(member_ids=[m.pk for m in members], trigger="activity")
    assert sorted(a.member_id for a in earned) == sorted(m.pk for m in members[::2])


# --- other criteria ----------------------------------------------------------------------------------------


def test_verb_count_within_a_window(member, other_member):
    badge = BadgeFactory(criteria={"type": "verb_count", "verb": "question_answered", "count": 3, "window_days": 7})
    for days_ago in (1, 2, 10):
        record_activity(member=member, verb="question_answered", occurred_at=timezone.now() - timedelta(days=days_ago))
    for days_ago in (1, 2, 3):
        record_activity(
            member=other_member, verb="question_answered", occurred_at=timezone.now() - timedelta(days=days_ago)
        )
    earned = badges_evaluate(member_ids=[member.pk, other_member.pk], trigger="activity")
    assert [(a.member_id, a.evidence) for a in earned] == [(other_member.pk, {"verb": "question_answered", "count": 3})]
    assert not awards_of(member, badge)


def test_points_threshold_is_checked_by_the_ledger_after_an_award(member):
    badge = BadgeFactory(criteria={"type": "level_reached", "threshold": 50})
    award(member, 30)
    assert not awards_of(member, badge)
    award(member, 25)
    (held,) = awards_of(member, badge)
    assert held.evidence == {"lifetime_points": 55}


def test_level_reached_by_name(member, other_member):
    regular = Level.objects.create(name="Regular", threshold=10)
    core = Level.objects.create(name="Core", threshold=100)
    Level.objects.create(name="Super", threshold=1000)
    badge = BadgeFactory(criteria={"type": "level_reached", "level_name": "Core"})
    MemberLevel.objects.create(member=member, level=Level.objects.get(name="Super"))
    MemberLevel.objects.create(member=other_member, level=regular)
    earned = badges_evaluate(member_ids=[member.pk, other_member.pk], trigger="points")
    assert [(a.member_id, a.badge_id) for a in earned] == [(member.pk, badge.pk)]
    assert core.threshold == 100


def test_leaderboard_rank_badges_are_awarded_when_a_period_freezes(sql_boards, django_capture_on_commit_callbacks):
    badge = BadgeFactory(criteria={"type": "leaderboard_rank", "period_kind": "week", "top_n": 2})
    monthly = BadgeFactory(criteria={"type": "leaderboard_rank", "period_kind": "month", "top_n": 2})
    last_week = period_containing("week").previous()
    members = [MemberFactory() for _ in range(4)]
    with committed(django_capture_on_commit_callbacks):
        for member, points in zip(members, (40, 30, 30, 10), strict=True):
            award(member, points, at=last_week.starts_at + timedelta(days=1))
    leaderboard_snapshot_freeze(period_kind="week", period_key=last_week.key)
    holders = set(BadgeAward.objects.filter(badge=badge).values_list("member_id", flat=True))
    assert holders == {members[0].pk, members[1].pk, members[2].pk}  # ranks 1, 2, 2 (dense)
    assert BadgeAward.objects.get(badge=badge, member=members[1]).evidence == {
        "rank": 2,
        "period_kind": "week",
        "period_key": last_week.key,
    }
    assert not BadgeAward.objects.filter(badge=monthly).exists()


def test_manual_badges_are_never_awarded_automatically(member):
    BadgeFactory(criteria={"type": "manual"})
    record_activity(member=member, verb="checked_in")
    assert badges_evaluate_all() == 0
    assert badges_evaluate_all_task() == 0
    assert not BadgeAward.objects.exists()


def test_inactive_badges_are_not_evaluated(member):
    BadgeFactory(criteria={"type": "verb_count", "verb": "checked_in", "count": 1}, is_active=False)
    record_activity(member=member, verb="checked_in")
    assert badges_evaluate(member_ids=[member.pk], trigger="schedule") == []


def test_an_unknown_trigger_is_a_programming_error(member):
    with pytest.raises(ValueError, match="trigger"):
        badges_evaluate(member_ids=[member.pk], trigger="whenever")


@pytest.mark.parametrize(
    "criteria",
    [
        None,
        [],
        {},
        {"type": "nope"},
        {"type": "streak"},
        {"type": "streak", "days": 0},
        {"type": "streak", "days": "7"},
        {"type": "streak", "days": True},
        {"type": "verb_count", "verb": "", "count": 2},
        {"type": "verb_count", "verb": "x", "count": 2, "extra": 1},
        {"type": "level_reached"},
        {"type": "level_reached", "level_name": "Core", "threshold": 5},
        {"type": "leaderboard_rank", "period_kind": "all", "top_n": 3},
        {"type": "leaderboard_rank", "period_kind": "week", "top_n": 10**9},
        {"type": "manual", "days": 1},
    ],
)
def test_bad_criteria_are_refused_with_a_message(criteria):
    badge = Badge(slug="x", name="X", criteria=criteria)
    with pytest.raises(ValidationError) as error:
        badge.full_clean()
    assert "criteria" in error.value.message_dict


def test_reserved_slugs_are_refused():
    with pytest.raises(ValidationError) as error:
        Badge(slug="mine", name="Mine", criteria={"type": "manual"}).full_clean()
    assert "slug" in error.value.message_dict


# --- grants and revocations --------------------------------------------------------------------------------


def test_a_manual_grant_is_audited_and_notified(member, operator):
    title = BadgeFactory(slug="super-user", name="超级用户", is_title=True, tier="gold")
    granted = badge_grant(badge=title, member=member, actor=operator.user, reason="Knows everything")
    assert granted.actor == operator.user and granted.evidence == {"granted": True, "reason": "Knows everything"}
    log = AuditLog.objects.get(action="badge.grant")
    assert log.actor == operator.user and log.after["member"] == member.pk
    assert "超级用户" in Notification.objects.get(member=member, kind="badge_awarded").title
    with pytest.raises(ServiceError) as error:
        badge_grant(badge=title, member=member, actor=operator.user, reason="")
    assert error.value.code == "already_awarded"


def test_grants_refuse_inactive_badges_self_grants_and_long_reasons(member, operator):
    badge = BadgeFactory(is_active=False)
    with pytest.raises(ServiceError) as error:
        badge_grant(badge=badge, member=member, actor=operator.user)
    assert error.value.field == "badge"
    active = BadgeFactory()
    with pytest.raises(ServiceError) as error:
        badge_grant(badge=active, member=operator, actor=operator.user)
    assert error.value.code == "self_grant"
    with pytest.raises(ServiceError) as error:
        badge_grant(badge=active, member=member, actor=operator.user, reason="x" * 201)
    assert error.value.field == "reason"
    assert not BadgeAward.objects.exists()


def test_revoking_is_audited_and_blocks_automatic_re_award(member, operator, streak_badge):
    check_in_days(member, now_shanghai().date() - timedelta(days=8), 7)
    (earned,) = badges_evaluate(member_ids=[member.pk], trigger="activity")
    with pytest.raises(ServiceError) as error:
        badge_revoke(award=earned, actor=operator.user, reason="  ")
    assert error.value.field == "reason"
    revoked = badge_revoke(award=earned, actor=operator.user, reason="Checked in with a script")
    assert revoked.revoked_at is not None and revoked.revoked_by == operator.user
    log = AuditLog.objects.get(action="badge.revoke")
    assert log.before["revoked_at"] is None and log.after["revoked_reason"] == "Checked in with a script"
    with pytest.raises(ServiceError) as error:
        badge_revoke(award=revoked, actor=operator.user, reason="again")
    assert error.value.code == "already_revoked"
    # The evaluator does not give it back; an operator can.
    assert badges_evaluate(member_ids=[member.pk], trigger="schedule") == []
    again = badge_grant(badge=streak_badge, member=member, actor=operator.user, reason="Appeal accepted")
    assert again.pk != earned.pk and len(awards_of(member, streak_badge)) == 2


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_parallel_evaluations_award_once():
    member = MemberFactory()
    badge = BadgeFactory(criteria={"type": "verb_count", "verb": "checked_in", "count": 1})
    record_activity(member=member, verb="checked_in")
    results = _run_parallel(20, 10, lambda i: badges_evaluate(member_ids=[member.pk], trigger="activity"))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert BadgeAward.objects.filter(member=member, badge=badge).count() == 1
    assert sum(len(r) for r in results) == 1
    assert Notification.objects.filter(member=member, kind="badge_awarded").count() == 1


# --- portal ------------------------------------------------------------------------------------------------


def test_badge_pages_need_a_login(client, streak_badge):
    for path in ("/rewards/badges/", "/rewards/badges/mine/", "/rewards/badges/week-streak/"):
        response = client.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("persona", ["web_member", "web_operator"])
def test_the_badge_list_shows_earned_and_not_earned(persona, request, member, operator, streak_badge):
    web = request.getfixturevalue(persona)
    holder = member if persona == "web_member" else operator
    title = BadgeFactory(name="社区达人", is_title=True)
    badge_grant(badge=title, member=holder, actor=MemberFactory(user__is_staff=True).user)
    response = web.get("/rewards/badges/")
    assert response.status_code == 200
    status = {item.badge.slug: item.earned for item in response.context["items"]}
    assert status == {title.slug: True, "week-streak": False}
    assert "社区达人" in response.content.decode()


def _count_queries(web, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert web.get(path).status_code == 200
    return len(captured)


def test_badge_pages_have_constant_query_counts(web_member, member, operator):
    first = BadgeFactory()
    badge_grant(badge=first, member=member, actor=operator.user)
    few = {
        path: _count_queries(web_member, path)
        for path in ("/rewards/badges/", "/rewards/badges/mine/", f"/rewards/badges/{first.slug}/")
    }
    for _ in range(6):
        badge_grant(badge=BadgeFactory(), member=member, actor=operator.user)
        badge_grant(badge=first, member=MemberFactory(), actor=operator.user)
    many = {path: _count_queries(web_member, path) for path in few}
    assert many == few


def test_the_badge_page_explains_the_criteria_and_offers_a_share_link(web_member, member, streak_badge, operator):
    page = web_member.get("/rewards/badges/week-streak/")
    assert page.status_code == 200 and page.context["award"] is None
    assert "Check in 7 days in a row." in page.content.decode()
    held = badge_grant(badge=streak_badge, member=member, actor=operator.user)
    page = web_member.get("/rewards/badges/week-streak/")
    assert page.context["assertion_url"].endswith(f"/rewards/badges/ob/assertions/{held.assertion_uuid}.json")
    assert page.context["assertion_url"] in page.content.decode()
    assert member.display_name in page.content.decode()


def test_unknown_and_inactive_badges_are_404_for_members(web_member, client, operator):
    hidden = BadgeFactory(is_active=False)
    assert web_member.get("/rewards/badges/no-such-badge/").status_code == 404
    assert web_member.get(f"/rewards/badges/{hidden.slug}/").status_code == 404
    client.force_login(operator.user)
    assert client.get(f"/rewards/badges/{hidden.slug}/").status_code == 200


def test_my_badges_lists_revoked_ones_with_the_reason(web_member, member, operator):
    badge = BadgeFactory(name="Helpful")
    held = badge_grant(badge=badge, member=member, actor=operator.user)
    badge_revoke(award=held, actor=operator.user, reason="Duplicate account")
    body = web_member.get("/rewards/badges/mine/").content.decode()
    assert "Helpful" in body and "Duplicate account" in body


# --- admin -------------------------------------------------------------------------------------------------


def test_operators_grant_in_the_admin_through_the_service(client, operator, member):
    badge = BadgeFactory(name="社区达人")
    client.force_login(operator.user)
    response = client.post(
        "/admin/rewards/badgeaward/add/", {"badge": badge.pk, "member": member.pk, "reason": "Runs the meetups"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    held = BadgeAward.objects.get(badge=badge, member=member)
    assert held.actor == operator.user and held.evidence["reason"] == "Runs the meetups"
    assert AuditLog.objects.filter(action="badge.grant", actor=operator.user).count() == 1
    again = client.post("/admin/rewards/badgeaward/add/", {"badge": badge.pk, "member": member.pk})
    assert again.status_code == 200 and "already holds" in again.content.decode()


def test_operators_revoke_in_the_admin_with_a_reason(client, operator, member):
    held = badge_grant(badge=BadgeFactory(), member=member, actor=operator.user)
    client.force_login(operator.user)
    changelist = "/admin/rewards/badgeaward/"
    ask = client.post(changelist, {"action": "revoke_awards", "_selected_action": [held.pk]})
    assert ask.status_code == 200 and b"reason" in ask.content
    done = client.post(
        changelist,
        {"action": "revoke_awards", "_selected_action": [held.pk], "apply": "1", "reason": "Left the program"},
    )
    assert done.status_code == 302
    held.refresh_from_db()
    assert held.revoked_reason == "Left the program" and held.revoked_by == operator.user


def test_badge_edits_in_the_admin_are_audited(client, operator):
    client.force_login(operator.user)
    response = client.post(
        "/admin/rewards/badge/add/",
        {
            "name": "Helpful",
            "slug": "helpful",
            "description": "",
            "tier": "silver",
            "is_active": "on",
            "emoji": "💡",
            "colour": "#fab005",
            "criteria": '{"type": "verb_count", "verb": "question_answered", "count": 10}',
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert AuditLog.objects.filter(action="rewards.badge.add.admin").exists()
    bad = client.post(
        "/admin/rewards/badge/add/",
        {
            "name": "Bad",
            "slug": "bad",
            "tier": "gold",
            "emoji": "x",
            "colour": "red",
            "criteria": '{"type": "streak"}',
        },
    )
    assert bad.status_code == 200 and not Badge.objects.filter(slug="bad").exists()


def test_a_bulk_award_that_earns_many_badges_tells_each_member_once(django_capture_on_commit_callbacks):
    from rewards.services import badges as badge_services
    from rewards.services.ledger import BulkAward, points_award_bulk

    badge = BadgeFactory(criteria={"type": "level_reached", "threshold": 50})
    members = MemberFactory.create_batch(badge_services.AWARD_INLINE_MAX + 5)
    with django_capture_on_commit_callbacks(execute=True):
        points_award_bulk(
            awards=[BulkAward(member_id=m.pk, amount=60, reason="event", idempotency_key=f"k{m.pk}") for m in members]
        )
    awards = list(BadgeAward.objects.filter(badge=badge))
    assert sorted(a.member_id for a in awards) == sorted(m.pk for m in members)
    assert Activity.objects.filter(verb="badge_earned").count() == len(members)
    assert AuditLog.objects.filter(action="badge.award").count() == len(members)
    assert Notification.objects.filter(kind="badge_awarded").count() == len(members)  # sent by the task on commit
    assert badge_services.badges_notify_awarded(award_ids=[a.pk for a in awards]) == 0  # a re-run tells nobody twice
    assert Notification.objects.filter(kind="badge_awarded").count() == len(members)
