"""Demo analytics: a welcome-message experiment with its assignments, a few KPI targets, and every rollup built
for the demo period, so the dashboard shows the demo program's KPIs with no configuration."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from analytics.models import Experiment, KpiTarget
from analytics.services import experiments, rollups, targets
from community.models import Activity
from members.models import Member

DEMO_TARGETS = (
    ("mau", KpiTarget.Comparison.AT_LEAST, 300, 30),
    ("d30_retention", KpiTarget.Comparison.AT_LEAST, 40, 90),
    ("stickiness", KpiTarget.Comparison.AT_LEAST, 20, 30),
    ("first_response_hours", KpiTarget.Comparison.AT_MOST, 24, 30),
)
EXPERIMENT_DAYS_AGO = 35


def seed(*, rng: random.Random, members: list[Member]) -> str:
    experiment = Experiment.objects.filter(key="welcome-message").first()
    if experiment is None:
        experiment = experiments.experiment_create(
            actor=None,
            key="welcome-message",
            name="Welcome message: friendly vs. to the point",
            description="Two welcome messages for new members; does the friendly one bring more first check-ins?",
            outcome_verb="checked_in",
            outcome_window_days=14,
            variants=[
                {"key": "to-the-point", "name": "To the point", "config": {"template": "welcome_short"}},
                {"key": "friendly", "name": "Friendly", "config": {"template": "welcome_friendly"}},
            ],
            start=True,
        )
    audience = [member for member in members if member.status == Member.Status.ACTIVE]
    rng.shuffle(audience)
    audience = audience[: max(2, len(audience) * 2 // 3)]
    # Assigned a few weeks back (never before the demo's first activity or the member's joining), so outcomes exist.
    now = timezone.now()
    first = Activity.objects.filter(member__in=members).order_by("occurred_at").values_list("occurred_at", flat=True)
    started = max(now - timedelta(days=EXPERIMENT_DAYS_AGO), first.first() or now)
    assigned = 0
    for member in audience:
        assigned_at = min(now, max(started, member.joined_at + timedelta(minutes=1)))
        assigned += experiments.experiment_assign_members(
            experiment=experiment, members=[member], assigned_at=assigned_at
        )
    for kpi, comparison, value, window in DEMO_TARGETS:
        targets.kpi_target_set(actor=None, kpi=kpi, comparison=comparison, value=value, window_days=window)
    summary = rollups.rollups_rebuild_all()
    checks = targets.kpi_targets_check(day=rollups.program_today() - timedelta(days=1))
    missed = sum(1 for check in checks if check.met is False)
    return (
        f"analytics: rollups for {summary['days']} days, {len(DEMO_TARGETS)} KPI targets ({missed} off track), "
        f"1 experiment with {assigned} members assigned"
    )
