"""Targets and their daily check, experiments (assignment, z-test), the weekly report and the scheduled tasks."""

from __future__ import annotations

import math
import threading
from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import connection

from analytics import tasks
from analytics.models import Assignment, Experiment, KpiTargetCheck
from analytics.selectors.experiments import experiment_results, two_proportion_z_test
from analytics.services import experiments, reports, targets
from community import domain_events
from community.errors import ServiceError
from community.models import Activity, Notification
from tests.factories import ActivityFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    seen = []

    def listener(event_type, data):
        seen.append((event_type, data))

    domain_events.subscribe(listener)
    yield seen
    domain_events._LISTENERS.remove(listener)


def test_a_missed_target_notifies_operators_once_and_publishes_an_event(
    rolled, operator, django_capture_on_commit_callbacks, events
):
    targets.kpi_target_set(actor=operator.user, kpi="mau", comparison="gte", value=300, window_days=3)
    targets.kpi_target_set(actor=operator.user, kpi="members_new", comparison="gte", value=2, window_days=3)
    with django_capture_on_commit_callbacks(execute=True):
        checks = targets.kpi_targets_check(day=date(2026, 3, 4))
        targets.kpi_targets_check(day=date(2026, 3, 4))  # a rerun notifies nobody again
    by_kpi = {c.target.kpi: c for c in checks}
    assert by_kpi["mau"].value == 3 and by_kpi["mau"].met is False
    assert by_kpi["members_new"].value == 3 and by_kpi["members_new"].met is True
    assert KpiTargetCheck.objects.count() == 2
    notes = Notification.objects.filter(kind="kpi_target_missed")
    assert [n.member_id for n in notes] == [operator.pk]
    assert "Monthly active members" in notes[0].title
    assert [e for e in events if e[0] == "kpi.target_missed"] == [
        ("kpi.target_missed", {"kpi": "mau", "day": "2026-03-04", "value": 3.0, "target": 300.0,
                               "comparison": "gte", "window_days": 3})
    ]  # fmt: skip


def test_target_refusals(operator):
    with pytest.raises(ServiceError) as error:
        targets.kpi_target_set(actor=operator.user, kpi="nonsense", comparison="gte", value=1)
    assert error.value.field == "kpi"
    with pytest.raises(ServiceError):
        targets.kpi_target_set(actor=operator.user, kpi="mau", comparison="eq", value=1)
    with pytest.raises(ServiceError):
        targets.kpi_target_set(actor=operator.user, kpi="mau", comparison="gte", value=1, window_days=0)


def test_an_unavailable_kpi_is_not_reported_as_missed(rolled, operator):
    targets.kpi_target_set(actor=operator.user, kpi="d30_retention", comparison="gte", value=40, window_days=3)
    (check,) = targets.kpi_targets_check(day=date(2026, 3, 4))
    assert check.value is None and check.met is None
    assert not Notification.objects.filter(kind="kpi_target_missed").exists()


# --- experiments -------------------------------------------------------------------------------------------


def make_experiment(**options):
    return experiments.experiment_create(
        actor=None,
        key=options.pop("key", "welcome"),
        name="Welcome",
        outcome_verb="checked_in",
        outcome_window_days=7,
        variants=[{"key": "a", "name": "A"}, {"key": "b", "name": "B"}],
        start=True,
        **options,
    )


def test_assignment_is_deterministic_sticky_and_on_the_stream():
    experiment = make_experiment()
    members = MemberFactory.create_batch(40)
    first = {m.pk: experiments.experiment_assign(experiment=experiment, member=m).variant.key for m in members}
    again = {m.pk: experiments.experiment_assign(experiment=experiment, member=m).variant.key for m in members}
    assert first == again
    variants = list(experiment.variants.order_by("position"))
    assert first == {m.pk: experiments.variant_for(experiment_key="welcome", member_id=m.pk, variants=variants).key
                     for m in members}  # fmt: skip
    assert set(first.values()) == {"a", "b"}
    assert Activity.objects.filter(verb="experiment_assigned").count() == 40
    activity = Activity.objects.filter(verb="experiment_assigned", member=members[0]).get()
    assert activity.dedupe_key == f"experiment:{experiment.pk}:{members[0].pk}"
    assert activity.data == {"experiment": "welcome"}
    assert activity.target_id == str(experiment.variants.get(key=first[members[0].pk]).pk)
    # Changing the weights later never moves anyone already assigned.
    experiment.variants.filter(key="a").update(weight=100)
    assert experiments.experiment_assign(experiment=experiment, member=members[0]).variant.key == first[members[0].pk]


def test_weights_split_the_members():
    experiment = experiments.experiment_create(
        actor=None, key="weights", name="W", outcome_verb="x", start=True,
        variants=[{"key": "a", "weight": 1}, {"key": "b", "weight": 3}],
    )  # fmt: skip
    variants = list(experiment.variants.order_by("position"))
    keys = [experiments.variant_for(experiment_key="weights", member_id=n, variants=variants).key for n in range(4000)]
    assert 0.7 < keys.count("b") / len(keys) < 0.8


def test_only_running_experiments_assign():
    experiment = make_experiment()
    experiments.experiment_set_status(actor=None, experiment=experiment, status=Experiment.Status.STOPPED)
    with pytest.raises(ServiceError):
        experiments.experiment_assign(experiment=Experiment.objects.get(pk=experiment.pk), member=MemberFactory())


def test_experiment_needs_two_distinct_variants():
    with pytest.raises(ServiceError):
        experiments.experiment_create(actor=None, key="x", name="x", outcome_verb="v", variants=[{"key": "a"}])
    with pytest.raises(ServiceError):
        experiments.experiment_create(
            actor=None, key="x", name="x", outcome_verb="v", variants=[{"key": "a"}, {"key": "a"}]
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_assignment_records_once():
    experiment = make_experiment(key="race")
    member = MemberFactory()
    results, errors = [], []

    def assign():
        try:
            results.append(experiments.experiment_assign(experiment=experiment, member=member).variant_id)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=assign) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(results)) == 1
    assert Assignment.objects.filter(member=member).count() == 1
    assert Activity.objects.filter(member=member, verb="experiment_assigned").count() == 1


def test_two_proportion_z_test_by_hand():
    # 200/1000 vs 250/1000: pooled p = 0.225, se = sqrt(.225*.775*(2/1000)) = 0.018675, z = 0.05/0.018675 = 2.6774.
    test = two_proportion_z_test(conversions_a=200, n_a=1000, conversions_b=250, n_b=1000)
    assert math.isclose(test.z, 2.6774, abs_tol=1e-3)
    assert math.isclose(test.p_value, 0.00742, abs_tol=1e-4)
    # Wald interval: se = sqrt(.2*.8/1000 + .25*.75/1000) = 0.018641; ±1.95996 x se = ±0.036536.
    assert math.isclose(test.ci_low, 0.013464, abs_tol=1e-4) and math.isclose(test.ci_high, 0.086536, abs_tol=1e-4)
    assert test.significant()
    same = two_proportion_z_test(conversions_a=0, n_a=10, conversions_b=0, n_b=10)
    assert same.z is None and not same.significant()
    assert two_proportion_z_test(conversions_a=0, n_a=0, conversions_b=1, n_b=1) is None


def test_experiment_results_count_outcomes_inside_the_window(api_operator):
    experiment = make_experiment(key="results")
    members = MemberFactory.create_batch(30)
    assignments = [experiments.experiment_assign(experiment=experiment, member=m) for m in members]
    converted = {"a": 0, "b": 0}
    for index, assignment in enumerate(assignments):
        if index % 3 == 0:  # inside the window
            ActivityFactory(member=assignment.member, verb="checked_in",
                            occurred_at=assignment.assigned_at + timedelta(days=2))  # fmt: skip
            converted[assignment.variant.key] += 1
        elif index % 3 == 1:  # too late, or the wrong action: not a conversion
            ActivityFactory(member=assignment.member, verb="checked_in",
                            occurred_at=assignment.assigned_at + timedelta(days=8))  # fmt: skip
            ActivityFactory(member=assignment.member, verb="question_answered",
                            occurred_at=assignment.assigned_at + timedelta(days=1))  # fmt: skip
    results = experiment_results(experiment=experiment)
    by_key = {v["key"]: v for v in results["variants"]}
    assert by_key["a"]["converted"] == converted["a"] and by_key["b"]["converted"] == converted["b"]
    assert by_key["a"]["assigned"] + by_key["b"]["assigned"] == 30
    assert by_key["a"]["test"] is None and by_key["b"]["test"] is not None
    expected = two_proportion_z_test(
        conversions_a=converted["a"], n_a=by_key["a"]["assigned"],
        conversions_b=converted["b"], n_b=by_key["b"]["assigned"],
    )  # fmt: skip
    assert by_key["b"]["test"]["ci_low_points"] == round(100 * expected.ci_low, 2)
    body = api_operator.get(f"/api/v1/analytics/experiments/{experiment.pk}/results/").json()
    assert body["variants"][1]["test"]["p_value"] == by_key["b"]["test"]["p_value"]


def test_experiment_page_shows_the_result(web_operator):
    experiment = make_experiment(key="page")
    for member in MemberFactory.create_batch(4):
        experiments.experiment_assign(experiment=experiment, member=member)
    response = web_operator.get(f"/analytics/experiments/{experiment.pk}/")
    assert response.status_code == 200
    assert "95% confidence interval" in response.content.decode()


# --- weekly report and tasks -------------------------------------------------------------------------------


def test_weekly_report_is_emailed_to_operators_once(rolled, operator):
    sent = reports.weekly_report_send(last_day=date(2026, 3, 8))
    assert sent == 1 and len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [operator.user.email]
    assert "2026-03-02" in message.subject
    html = message.alternatives[0][0]
    assert "Monthly active members" in html and "Previous week" in html
    assert reports.weekly_report_send(last_day=date(2026, 3, 8)) == 0
    assert len(mail.outbox) == 1


def test_weekly_report_in_the_operators_language(rolled, operator):
    operator.locale = "zh-hans"
    operator.save()
    reports.weekly_report_send(last_day=date(2026, 3, 8))
    assert 'lang="zh-hans"' in mail.outbox[0].alternatives[0][0]


def test_tasks_run_and_are_idempotent(program, operator, monkeypatch):
    from analytics.services import rollups

    monkeypatch.setattr(rollups, "program_today", lambda: date(2026, 3, 5))
    tasks.rollups_nightly.delay()
    tasks.rollups_nightly.delay()
    tasks.rollups_refresh_recent.delay()
    from analytics.models import DaySegment

    assert DaySegment.objects.filter(day=date(2026, 3, 4)).count() == 3
    tasks.rollups_nightly.delay(start="2026-02-01", end="2026-03-10")
    assert DaySegment.objects.filter(day=date(2026, 2, 1)).exists()
    targets.kpi_target_set(actor=None, kpi="mau", comparison="gte", value=300, window_days=3)
    assert tasks.kpi_targets_check_daily.delay().get() == 1
    assert tasks.weekly_report_send.delay().get() == 1
    assert tasks.weekly_report_send.delay().get() == 0
