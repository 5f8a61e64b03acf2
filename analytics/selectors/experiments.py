"""Experiment results: conversions per variant and a two-proportion z-test of each variant against the control."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from statistics import NormalDist
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from analytics.models import Assignment, Experiment
from community.models import Activity

CONFIDENCE = 0.95


@dataclass(frozen=True)
class ZTest:
    difference: float  # p_variant - p_control
    ci_low: float
    ci_high: float
    z: float | None
    p_value: float | None

    def significant(self, alpha: float = 1 - CONFIDENCE) -> bool:
        return self.p_value is not None and self.p_value < alpha


def two_proportion_z_test(
    *, conversions_a: int, n_a: int, conversions_b: int, n_b: int, confidence: float = CONFIDENCE
) -> ZTest | None:
    """Two-sided z-test of p_b - p_a with the pooled standard error; the confidence interval of the difference
    uses the unpooled (Wald) standard error. None when either group is empty."""
    if n_a <= 0 or n_b <= 0:
        return None
    p_a, p_b = conversions_a / n_a, conversions_b / n_b
    difference = p_b - p_a
    pooled = (conversions_a + conversions_b) / (n_a + n_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    critical = NormalDist().inv_cdf(0.5 + confidence / 2)
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    if se_pooled == 0:
        z, p_value = None, None
    else:
        z = difference / se_pooled
        p_value = 2 * (1 - NormalDist().cdf(abs(z)))
    return ZTest(difference, difference - critical * se, difference + critical * se, z, p_value)


def experiment_list() -> QuerySet[Experiment]:
    return Experiment.objects.annotate(assigned=Count("assignments")).order_by("-created_at", "-id")


def experiment_results(*, experiment: Experiment) -> dict[str, Any]:
    """Per variant: members assigned, members converted (did `outcome_verb` within the window after being
    assigned), the rate, and — for every variant after the control — the z-test against the control. Two queries.
    """
    converted = Activity.objects.filter(
        member_id=OuterRef("member_id"),
        verb=experiment.outcome_verb,
        occurred_at__gt=OuterRef("assigned_at"),
        occurred_at__lte=OuterRef("assigned_at") + timedelta(days=experiment.outcome_window_days),
    )
    counts = {
        row["variant_id"]: row
        for row in Assignment.objects.filter(experiment=experiment)
        .annotate(converted=Exists(converted))
        .values("variant_id")
        .annotate(n=Count("pk"), conversions=Count("pk", filter=Q(converted=True)))
    }
    variants = []
    control = None
    for variant in experiment.variants.order_by("position", "id"):
        row = counts.get(variant.pk, {"n": 0, "conversions": 0})
        entry = {
            "key": variant.key,
            "name": variant.name,
            "assigned": row["n"],
            "converted": row["conversions"],
            "rate": round(100 * row["conversions"] / row["n"], 2) if row["n"] else None,
            "is_control": control is None,
            "test": None,
        }
        if control is None:
            control = entry
        else:
            test = two_proportion_z_test(
                conversions_a=control["converted"], n_a=control["assigned"],
                conversions_b=entry["converted"], n_b=entry["assigned"],
            )  # fmt: skip
            if test is not None:
                entry["test"] = {
                    "difference_points": round(100 * test.difference, 2),
                    "ci_low_points": round(100 * test.ci_low, 2),
                    "ci_high_points": round(100 * test.ci_high, 2),
                    "z": None if test.z is None else round(test.z, 3),
                    "p_value": None if test.p_value is None else round(test.p_value, 4),
                    "significant": test.significant(),
                }
        variants.append(entry)
    return {
        "experiment": experiment.key,
        "name": experiment.name,
        "status": experiment.status,
        "outcome_verb": experiment.outcome_verb,
        "outcome_window_days": experiment.outcome_window_days,
        "confidence": CONFIDENCE,
        "variants": variants,
    }
