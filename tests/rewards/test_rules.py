"""Point rules: verbs earn or cost points once per activity, within caps counted in the member's own days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from community import activity_hooks
from community import services as community_services
from community.errors import ServiceError
from community.models import Activity, AuditLog
from rewards.models import PointEntry, PointRule
from rewards.selectors.ledger import balance_for_member
from rewards.services import rules as rule_services
from rewards.services.ledger import points_award
from tests.factories import MemberFactory
from tests.rewards.factories_points import (
    PointRuleFactory,
    local_moment,
)
from tests.rewards.test_ledger import _run_parallel, assert_balances_match_ledger, needs_row_locks

pytestmark = pytest.mark.django_db


def record(member, verb, moment=None, **data):
    return community_services.record_activity(member=member, verb=verb, occurred_at=moment, data=data)


def lifetime(member) -> int:
    return balance_for_member(member=member).lifetime


def test_the_rules_hook_is_registered():
    assert rule_services.rules_apply in activity_hooks._HOOKS


def test_recording_an_activity_runs_the_rules_hook(member):
    PointRuleFactory(verb="survey_answered", points=5)
    community_services.record_activity(member=member, verb="survey_answered")
    assert lifetime(member) == 5


def test_activities_recorded_in_bulk_go_through_the_rules_with_their_caps(member):
    PointRuleFactory(verb="question_answered", points=5, daily_cap=3)
    day_one, day_two = local_moment(member, 2026, 3, 3, 9), local_moment(member, 2026, 3, 4, 9)
    entries = [
        community_services.ActivityInput(member=member, verb="question_answered", occurred_at=moment)
        for moment in [day_one + timedelta(minutes=i) for i in range(5)] + [day_two]
    ]
    community_services.activities_record_bulk(entries=entries)
    assert lifetime(member) == 20


def test_answer_a_question_is_5_points_at_most_3_a_day(operator):
    rule_services.point_rule_create(
        actor=operator.user, name="Answering a question", verb="question_answered", points=5, daily_cap=3
    )
    member = MemberFactory(time_zone="Asia/Shanghai")
    for hour in range(9, 14):  # five answers on 3 March, member's time
        record(member, "question_answered", local_moment(member, 2026, 3, 3, hour))
    assert lifetime(member) == 15
    assert PointEntry.objects.filter(member=member).count() == 3

    record(member, "question_answered", local_moment(member, 2026, 3, 4, 8))
    record(member, "question_answered", local_moment(member, 2026, 3, 4, 9))
    assert lifetime(member) == 25
    assert_balances_match_ledger()


def test_the_daily_cap_follows_the_members_own_midnight():
    rule = PointRuleFactory(verb="question_answered", points=5, daily_cap=1)
    # 23:30 and 00:30 in Los Angeles are two days there, but 15:30 and 16:30 on one day in Shanghai.
    los_angeles = MemberFactory(time_zone="America/Los_Angeles")
    shanghai = MemberFactory(time_zone="Asia/Shanghai")
    late = local_moment(los_angeles, 2026, 1, 10, 23, 30)
    after_midnight = late + timedelta(hours=1)
    for member in (los_angeles, shanghai):
        record(member, "question_answered", late)
        record(member, "question_answered", after_midnight)
    assert lifetime(los_angeles) == 10
    assert lifetime(shanghai) == 5
    assert set(PointEntry.objects.filter(rule=rule).values_list("rule_version", flat=True)) == {1}


def test_weekly_cap_counts_iso_weeks_in_the_members_time_zone(member):
    PointRuleFactory(verb="feedback_submitted", points=3, weekly_cap=4)
    for day in range(2, 9):  # Monday 2 March to Sunday 8 March 2026
        record(member, "feedback_submitted", local_moment(member, 2026, 3, day, 10))
    assert lifetime(member) == 12
    record(member, "feedback_submitted", local_moment(member, 2026, 3, 9, 10))  # the next Monday
    assert lifetime(member) == 15


def test_cooldown_spaces_awards_out(member):
    PointRuleFactory(verb="question_answered", points=5, cooldown_seconds=3600)
    record(member, "question_answered")
    record(member, "question_answered")
    assert lifetime(member) == 5
    PointEntry.objects.filter(member=member).update(created_at=timezone.now() - timedelta(hours=2))
    record(member, "question_answered")
    assert lifetime(member) == 10


def test_first_time_only_awards_once_ever(member):
    PointRuleFactory(verb="profile_completed", points=30, first_time_only=True)
    record(member, "profile_completed", local_moment(member, 2026, 1, 5))
    record(member, "profile_completed", local_moment(member, 2026, 2, 5))
    assert lifetime(member) == 30


def test_conditions_are_matched_against_the_activity_data(member):
    PointRuleFactory(verb="feedback_submitted", points=4, conditions={"category": "bug"})
    PointRuleFactory(verb="feedback_submitted", points=1, conditions={"category": ["idea", "praise"]})
    record(member, "feedback_submitted", category="question")
    assert lifetime(member) == 0
    record(member, "feedback_submitted", category="bug")
    assert lifetime(member) == 4
    record(member, "feedback_submitted", category="idea")
    record(member, "feedback_submitted")  # no category at all
    assert lifetime(member) == 5


def test_inactive_and_out_of_date_rules_award_nothing(member):
    now = timezone.now()
    PointRuleFactory(verb="event_attended", points=1, is_active=False)
    PointRuleFactory(verb="event_attended", points=2, active_from=now + timedelta(days=1))
    PointRuleFactory(verb="event_attended", points=4, active_until=now - timedelta(days=1))
    PointRuleFactory(
        verb="event_attended", points=8, active_from=now - timedelta(days=1), active_until=now + timedelta(days=1)
    )
    record(member, "event_attended", now)
    assert lifetime(member) == 8
    # A back-dated activity is judged by when it happened: only the rule active then applies.
    record(member, "event_attended", now - timedelta(days=3))
    assert lifetime(member) == 12


def test_a_negative_rule_deducts_but_never_below_zero(member):
    PointRuleFactory(verb="reported_for_spam", points=-20)
    points_award(member=member, amount=30, reason="start", idempotency_key="start")
    record(member, "reported_for_spam")
    balance = balance_for_member(member=member)
    assert (balance.lifetime, balance.spendable) == (10, 10)
    record(member, "reported_for_spam")  # only 10 left: 10 taken
    record(member, "reported_for_spam")  # nothing left to take: no entry, no error
    assert list(PointEntry.objects.filter(kind="deduct").order_by("pk").values_list("spendable_delta", flat=True)) == [
        -20,
        -10,
    ]
    assert lifetime(member) == 0
    assert_balances_match_ledger()


def test_an_activity_evaluated_twice_awards_once_per_rule(member):
    PointRuleFactory(verb="question_answered", points=5, daily_cap=3)
    PointRuleFactory(verb="question_answered", points=1)
    moment = local_moment(member, 2026, 5, 1)
    activities = [record(member, "question_answered", moment) for _ in range(2)]
    rule_services.rules_apply(activities)
    rule_services.rules_apply(activities)
    assert lifetime(member) == 12
    # Re-evaluating does not use up the cap either: a third answer still earns.
    record(member, "question_answered", moment)
    assert lifetime(member) == 18


def test_rule_awards_name_the_rule_its_version_and_the_activity(member):
    rule = PointRuleFactory(verb="survey_answered", points=5, name="Answering a survey")
    activity = record(member, "survey_answered")
    entry = PointEntry.objects.get(member=member)
    assert (entry.rule, entry.rule_version, entry.reason) == (rule, 1, "Answering a survey")
    assert entry.source_id == str(activity.pk)
    assert rule_services.points_for_activity(activity=activity) == 5


def test_editing_what_a_rule_awards_bumps_its_version_and_keeps_history(member, operator):
    rule = rule_services.point_rule_create(actor=operator.user, name="Answer", verb="question_answered", points=5)
    record(member, "question_answered")
    rule = rule_services.point_rule_update(actor=operator.user, rule=rule, points=8, daily_cap=10)
    assert rule.version == 2
    record(member, "question_answered")
    entries = list(PointEntry.objects.filter(rule=rule).order_by("pk").values_list("lifetime_delta", "rule_version"))
    assert entries == [(5, 1), (8, 2)]

    renamed = rule_services.point_rule_update(actor=operator.user, rule=rule, name="Answering a question")
    assert renamed.version == 2  # a new name changes no award
    unchanged = rule_services.point_rule_update(actor=operator.user, rule=rule, points=8)
    assert unchanged.version == 2
    update = AuditLog.objects.filter(action="point_rule.update").order_by("pk").first()
    assert (update.before["points"], update.after["points"], update.after["version"]) == (5, 8, 2)
    assert AuditLog.objects.filter(action="point_rule.update").count() == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"points": 0}, "points"),
        ({"points": 1_000_001}, "points"),
        ({"points": "5"}, "points"),
        ({"points": True}, "points"),
        ({"daily_cap": 0}, "daily_cap"),
        ({"weekly_cap": -1}, "weekly_cap"),
        ({"conditions": ["bug"]}, "conditions"),
        ({"verb": "two words"}, "verb"),
        ({"name": "  "}, "name"),
        ({"active_from": timezone.now(), "active_until": timezone.now() - timedelta(days=1)}, "active_until"),
    ],
)
def test_bad_rule_values_are_refused_with_a_field_error(operator, changes, field):
    rule = PointRuleFactory()
    with pytest.raises(ServiceError) as error:
        rule_services.point_rule_update(actor=operator.user, rule=rule, **changes)
    assert error.value.field == field
    rule.refresh_from_db()
    assert rule.version == 1
    with pytest.raises(ServiceError):
        rule_services.point_rule_create(actor=operator.user, **{"name": "x", "verb": "v", "points": 1, **changes})


def test_default_rules_install_once_and_keep_operator_edits(operator):
    assert rule_services.point_rules_install_defaults() == 7
    spam = PointRule.objects.get(verb="reported_for_spam")
    assert spam.points == -20
    answer = PointRule.objects.get(verb="question_answered")
    assert (answer.points, answer.daily_cap) == (5, 3)
    rule_services.point_rule_update(actor=operator.user, rule=answer, points=6)
    assert rule_services.point_rules_install_defaults() == 0
    assert PointRule.objects.count() == 7
    assert PointRule.objects.get(pk=answer.pk).points == 6


def test_operator_edits_a_rule_in_the_admin_through_the_service(web_operator):
    rule = PointRuleFactory(name="Answer", verb="question_answered", points=5)
    url = reverse("admin:rewards_pointrule_change", args=[rule.pk])
    assert web_operator.get(url).status_code == 200
    form = {
        "name": "Answer",
        "verb": "question_answered",
        "points": "7",
        "description": "",
        "is_active": "on",
        "daily_cap": "3",
        "weekly_cap": "",
        "cooldown_seconds": "0",
        "conditions": "{}",
        "active_from_0": "",
        "active_from_1": "",
        "active_until_0": "",
        "active_until_1": "",
    }
    response = web_operator.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    rule.refresh_from_db()
    assert (rule.points, rule.daily_cap, rule.version) == (7, 3, 2)
    assert AuditLog.objects.filter(action="point_rule.update", object_id=str(rule.pk)).exists()

    bad = web_operator.post(url, {**form, "points": "0"})
    assert bad.status_code == 200
    assert "points" in bad.context["adminform"].form.errors
    rule.refresh_from_db()
    assert rule.points == 7

    add = web_operator.post(reverse("admin:rewards_pointrule_add"), {**form, "name": "New", "verb": "event_attended"})
    assert add.status_code == 302
    created = PointRule.objects.get(name="New")
    assert (created.version, created.points) == (1, 7)
    assert AuditLog.objects.filter(action="point_rule.create", object_id=str(created.pk)).exists()


def test_members_cannot_open_the_rules_admin(web_member):
    response = web_member.get(reverse("admin:rewards_pointrule_changelist"))
    assert response.status_code == 302  # to the admin log-in


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_racing_activities_never_exceed_the_daily_cap():
    PointRuleFactory(verb="question_answered", points=5, daily_cap=3)
    member = MemberFactory()
    moment = local_moment(member, 2026, 6, 1, 10)
    results = _run_parallel(24, 12, lambda i: record(member, "question_answered", moment + timedelta(seconds=i)))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert Activity.objects.filter(member=member).count() == 24
    assert PointEntry.objects.filter(member=member).aggregate(total=Sum("lifetime_delta"))["total"] == 15
    assert_balances_match_ledger()


def _bulk_entries(activities, rule):
    return {
        (e.member_id, e.lifetime_delta, e.reason, e.rule_id, e.rule_version, e.source_id, e.idempotency_key)
        for e in PointEntry.objects.filter(rule=rule, source_id__in=[str(a.pk) for a in activities])
    }


def test_a_batch_of_activities_posts_plain_awards_in_bulk_as_one_by_one_would(monkeypatch):
    from community.services import ActivityInput, activities_record_bulk_returning

    plain = PointRuleFactory(verb="product.report_exported", points=4, name="Exported a report")
    capped = PointRuleFactory(verb="product.report_exported", points=1, daily_cap=1, name="First export today")
    members = MemberFactory.create_batch(4)
    now = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)  # far from midnight in every member's time zone
    posted_in_bulk = []
    real_bulk = rule_services.points_award_bulk
    monkeypatch.setattr(
        rule_services, "points_award_bulk", lambda **kw: posted_in_bulk.append(len(kw["awards"])) or real_bulk(**kw)
    )
    entries = [
        ActivityInput(member=members[i % 4], verb="product.report_exported", occurred_at=now - timedelta(minutes=i))
        for i in range(rule_services.BULK_RULE_AWARDS_MIN + 2)
    ]
    recorded = activities_record_bulk_returning(entries=entries)

    assert posted_in_bulk == [len(recorded)]  # the plain rule's awards in one call; the capped rule one by one
    assert _bulk_entries(recorded, plain) == {
        (a.member_id, 4, plain.name, plain.pk, plain.version, str(a.pk), rule_services.rule_award_key(plain, a))
        for a in recorded
    }
    assert PointEntry.objects.filter(rule=capped).count() == 4  # once a day for each member
    assert [lifetime(m) for m in members] == [4 * 3 + 1, 4 * 3 + 1, 4 * 3 + 1, 4 * 3 + 1]
    assert_balances_match_ledger()

    # Applied again (as a retried hook would), nothing is posted twice.
    rule_services.rules_apply(recorded)
    assert PointEntry.objects.filter(rule=plain).count() == len(recorded)


def test_a_few_activities_are_applied_one_by_one(member, monkeypatch):
    PointRuleFactory(verb="product.report_exported", points=4)
    monkeypatch.setattr(rule_services, "points_award_bulk", lambda **kw: pytest.fail("no bulk call for a few awards"))
    for minute in range(rule_services.BULK_RULE_AWARDS_MIN - 1):
        record(member, "product.report_exported", timezone.now() - timedelta(minutes=minute))
    assert lifetime(member) == 4 * (rule_services.BULK_RULE_AWARDS_MIN - 1)
