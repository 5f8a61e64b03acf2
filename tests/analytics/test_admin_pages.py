"""The analytics models in the admin: experiments with their actions, and read-only rollups and targets."""

from __future__ import annotations

import pytest
from django.urls import reverse

from analytics.models import Assignment, DaySegment, Experiment, KpiTarget, KpiTargetCheck
from analytics.services import experiments, targets
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def changelist(model) -> str:
    return reverse(f"admin:analytics_{model._meta.model_name}_changelist")


def test_experiment_actions_start_assign_and_stop(web_operator):
    experiment = experiments.experiment_create(
        actor=None, key="admin-exp", name="Admin", outcome_verb="checked_in",
        variants=[{"key": "a"}, {"key": "b"}],
    )  # fmt: skip
    MemberFactory.create_batch(3)
    url = changelist(Experiment)
    web_operator.post(url, {"action": "start", "_selected_action": [experiment.pk]})
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.RUNNING
    response = web_operator.post(
        url, {"action": "assign_active_members", "_selected_action": [experiment.pk]}, follow=True
    )
    assert "3 members assigned." in response.content.decode()
    assert Assignment.objects.filter(experiment=experiment).count() == 3
    web_operator.post(url, {"action": "stop", "_selected_action": [experiment.pk]})
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.STOPPED


def test_rollup_and_target_pages_render_read_only(web_operator, rolled):
    target = targets.kpi_target_set(actor=None, kpi="mau", comparison="gte", value=1, window_days=3)
    from datetime import date

    targets.kpi_targets_check(day=date(2026, 3, 4))
    for model in (DaySegment, KpiTarget, KpiTargetCheck, Experiment):
        assert web_operator.get(changelist(model)).status_code == 200
    assert web_operator.get(reverse("admin:analytics_kpitarget_add")).status_code == 403
    page = web_operator.get(reverse("admin:analytics_kpitarget_change", args=[target.pk]))
    assert page.status_code == 200 and not page.context["has_change_permission"]


def test_admin_pages_are_closed_to_members(client, member):
    client.force_login(member.user)
    assert client.get(changelist(Experiment)).status_code == 302
