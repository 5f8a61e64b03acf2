"""Daily check-in: once per local day (even racing), streaks, streak bonuses, the portal button and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from community.models import Activity
from rewards.models import CheckIn, MemberStreak, PointEntry, StreakBonus
from rewards.selectors.ledger import balance_for_member
from rewards.selectors.points import points_summary_for_member
from rewards.services.checkin import checkin_perform, streak_bonuses_install_defaults
from rewards.services.rules import point_rules_install_defaults
from tests.factories import MemberFactory
from tests.rewards.factories_points import (
    PointRuleFactory,
    StreakBonusFactory,
    local_moment,
)
from tests.rewards.test_ledger import _run_parallel, assert_balances_match_ledger, needs_row_locks

pytestmark = pytest.mark.django_db


@pytest.fixture
def check_in_rule(db):
    return PointRuleFactory(name="Daily check-in", verb="checked_in", points=2, daily_cap=1)


def test_a_check_in_earns_the_rules_points_once_a_day(member, check_in_rule):
    now = local_moment(member, 2026, 4, 1, 9)
    first = checkin_perform(member=member, now=now)
    again = checkin_perform(member=member, now=now + timedelta(hours=10))
    assert first.created and (first.points, first.current_streak, first.longest_streak) == (2, 1, 1)
    assert again.already_checked_in and again.points == 0 and again.check_in.pk == first.check_in.pk
    assert CheckIn.objects.filter(member=member).count() == 1
    assert balance_for_member(member=member).lifetime == 2
    activity = Activity.objects.get(member=member, verb="checked_in")
    assert activity.data == {"local_date": "2026-04-01", "streak": 1}
    assert PointEntry.objects.get(member=member).rule == check_in_rule


def test_the_day_is_the_members_own():
    PointRuleFactory(verb="checked_in", points=2, daily_cap=1)
    los_angeles = MemberFactory(time_zone="America/Los_Angeles")
    shanghai = MemberFactory(time_zone="Asia/Shanghai")
    late = local_moment(los_angeles, 2026, 4, 1, 23, 30)  # 15:30 the next day in Shanghai
    for member in (los_angeles, shanghai):
        checkin_perform(member=member, now=late)
        checkin_perform(member=member, now=late + timedelta(hours=1))
    assert sorted(map(str, CheckIn.objects.filter(member=los_angeles).values_list("local_date", flat=True))) == [
        "2026-04-01",
        "2026-04-02",
    ]
    assert list(map(str, CheckIn.objects.filter(member=shanghai).values_list("local_date", flat=True))) == [
        "2026-04-02"
    ]
    assert MemberStreak.objects.get(member=los_angeles).current == 2


def test_seven_days_running_make_a_streak_of_seven_and_earn_the_bonus(member, check_in_rule):
    StreakBonusFactory(name="7-day streak", days=7, points=5)
    results = [checkin_perform(member=member, now=local_moment(member, 2026, 4, day, 8 + day)) for day in range(1, 8)]
    assert [r.current_streak for r in results] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.bonus_points for r in results] == [0, 0, 0, 0, 0, 0, 5]
    assert results[-1].points == 7
    assert balance_for_member(member=member).lifetime == 7 * 2 + 5
    bonus_entry = PointEntry.objects.get(member=member, reason="7-day streak")
    assert bonus_entry.lifetime_delta == 5

    # A missed day starts a new streak; the best one is remembered.
    after_gap = checkin_perform(member=member, now=local_moment(member, 2026, 4, 9))
    assert (after_gap.current_streak, after_gap.longest_streak, after_gap.bonus_points) == (1, 7, 0)
    assert_balances_match_ledger()


def test_repeating_bonuses_pay_at_each_multiple_and_one_off_bonuses_once(member, check_in_rule):
    StreakBonusFactory(name="every 3 days", days=3, points=1, repeats=True)
    StreakBonusFactory(name="at 4 days", days=4, points=10, repeats=False)
    StreakBonusFactory(name="switched off", days=2, points=100, is_active=False)
    bonuses = [
        checkin_perform(member=member, now=local_moment(member, 2026, 5, day)).bonus_points for day in range(1, 10)
    ]
    assert bonuses == [0, 0, 1, 10, 0, 1, 0, 0, 1]


def test_the_shown_streak_drops_to_zero_once_a_day_is_missed(member, check_in_rule):
    for day in (1, 2, 3):
        checkin_perform(member=member, now=local_moment(member, 2026, 4, day))
    assert points_summary_for_member(member=member, now=local_moment(member, 2026, 4, 4)).current_streak == 3
    gone = points_summary_for_member(member=member, now=local_moment(member, 2026, 4, 5))
    assert (gone.current_streak, gone.longest_streak, gone.checked_in_today) == (0, 3, False)


def test_default_streak_bonuses_install_once():
    assert streak_bonuses_install_defaults() == 2
    assert streak_bonuses_install_defaults() == 0
    assert list(StreakBonus.objects.values_list("days", "points", "repeats")) == [(7, 5, True), (30, 20, True)]


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_racing_check_ins_make_one():
    point_rules_install_defaults()
    member = MemberFactory()
    results = _run_parallel(30, 15, lambda i: checkin_perform(member=member))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(r.created for r in results) == 1
    assert sum(r.points for r in results) == 2
    assert CheckIn.objects.filter(member=member).count() == 1
    assert Activity.objects.filter(member=member, verb="checked_in").count() == 1
    assert PointEntry.objects.filter(member=member).count() == 1
    assert MemberStreak.objects.get(member=member).current == 1
    assert_balances_match_ledger()


# --- the portal button ----------------------------------------------------------------------------------------


def test_the_check_in_button_checks_in_once_and_says_so(web_member, member, check_in_rule):
    url = reverse("rewards:points_checkin")
    page = reverse("rewards:points")
    assert b"Check in" in web_member.get(page).content
    first = web_member.post(url, follow=True)
    assert first.redirect_chain[-1][0] == page
    assert "Checked in: +2 points." in first.content.decode()
    assert "You have already checked in today." in first.content.decode()  # the card now says so
    second = web_member.post(url, follow=True)
    messages = [str(m) for m in second.context["messages"]]
    assert messages == ["You have already checked in today. Come back tomorrow to keep your streak going."]
    assert CheckIn.objects.filter(member=member).count() == 1


def test_the_check_in_button_needs_a_signed_in_post(client, web_member):
    url = reverse("rewards:points_checkin")
    assert web_member.get(url).status_code == 405
    client.logout()
    response = client.post(url)
    assert response.status_code == 302 and "/accounts/login/" in response.url
    assert not CheckIn.objects.exists()


# --- the API ----------------------------------------------------------------------------------------------------

CHECKIN_URL = "/api/v1/points/checkin/"


def test_api_check_in_answers_201_then_200(api_member, member, check_in_rule):
    first = api_member.post(CHECKIN_URL)
    assert first.status_code == 201
    assert first.json()["created"] is True and first.json()["points"] == 2 and first.json()["current_streak"] == 1
    second = api_member.post(CHECKIN_URL)
    assert second.status_code == 200
    assert second.json()["already_checked_in"] is True and second.json()["points"] == 0


def test_api_check_in_personas(api_anon, api_other, api_operator, member, other_member, operator, check_in_rule):
    assert api_anon.post(CHECKIN_URL).status_code == 401
    assert api_other.post(CHECKIN_URL).status_code == 201
    assert api_operator.post(CHECKIN_URL).status_code == 201  # operators are members too
    assert set(CheckIn.objects.values_list("member", flat=True)) == {other_member.pk, operator.pk}
    assert api_anon.get(CHECKIN_URL).status_code == 401
    assert api_other.get(CHECKIN_URL).status_code == 405


# --- demo data ---------------------------------------------------------------------------------------------------


def test_demo_seed_turns_demo_check_ins_into_check_ins_points_and_levels():
    import random

    from django.utils import timezone

    from community.management.commands.seed_demo import activities_seed
    from members import demo as members_demo
    from rewards.demo import points as demo_points
    from rewards.models import MemberLevel
    from rewards.services.rules import rules_apply

    now = timezone.now()
    demo_members = members_demo.members_seed(count=15, seed=7, now=now, join_days=45)
    activities_seed(demo_members=demo_members, seed=7, now=now, days=30)
    members = [demo_member.member for demo_member in demo_members]
    summary = demo_points.seed(rng=random.Random(7), members=members)
    assert summary.startswith("points: 7 rules, 2 streak bonuses, 4 levels installed")

    demo_days = Activity.objects.filter(verb="checked_in").values("member_id", "local_date").distinct().count()
    assert CheckIn.objects.count() == demo_days > 0
    assert MemberLevel.objects.filter(member__in=members).count() == len(members)
    answers_per_day = (
        PointEntry.objects.filter(rule__verb="question_answered").values("member_id", "idempotency_key").order_by()
    )
    per_day: dict[tuple[int, str], int] = {}
    for row in answers_per_day:
        day = row["idempotency_key"].split(":")[3]
        per_day[(row["member_id"], day)] = per_day.get((row["member_id"], day), 0) + 1
    assert max(per_day.values(), default=0) <= 3  # the rule's daily cap held in the replay
    assert_balances_match_ledger()

    # The entries carry the rules' own keys: running the live rules over the same activities adds nothing.
    entries = PointEntry.objects.count()
    rules_apply(list(Activity.objects.filter(member__in=members)))
    assert PointEntry.objects.count() == entries
    assert demo_points.seed(rng=random.Random(7), members=members).endswith(
        f"{CheckIn.objects.count()} check-ins, 0 point entries, "
        f"{MemberLevel.objects.filter(level__threshold__gt=0).count()} members above the entry level"
    )
