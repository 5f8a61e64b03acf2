"""Analytics: the operators' dashboards, targets, experiments, exports and the KPI API."""

from __future__ import annotations

from tests.security.routes import Route, statuses

ROUTES: dict[str, Route] = {
    "analytics:dashboard": Route(statuses(302, 404, 404, 404, 200)),
    "analytics:churn": Route(statuses(302, 404, 404, 404, 200)),
    "analytics:cohorts": Route(statuses(302, 404, 404, 404, 200)),
    "analytics:cohort_cell": Route(
        statuses(302, 404, 404, 404, 200), kwargs={"week": "cohort_week", "index": "cohort_index"}
    ),
    "analytics:experiments": Route(statuses(302, 404, 404, 404, 200)),
    "analytics:experiment": Route(statuses(302, 404, 404, 404, 200), kwargs={"pk": "experiment"}),
    "analytics:export": Route(statuses(302, 404, 404, 404, 200), kwargs={"name": "analytics_export"}),
    "analytics:rebuild": Route(statuses(302, 404, 404, 404, 302), method="post"),
    "analytics:targets": Route(statuses(302, 404, 404, 404, 200)),
    "analytics:target_delete": Route(statuses(302, 404, 404, 404, 302), method="post", kwargs={"pk": "target"}),
    "analytics-kpis": Route(statuses(401, 403, 403, 403, 200)),
    "analytics-series": Route(statuses(401, 403, 403, 403, 200)),
    "analytics-funnel": Route(statuses(401, 403, 403, 403, 200)),
    "analytics-cohorts": Route(statuses(401, 403, 403, 403, 200)),
    "analytics-cohort-members": Route(
        statuses(401, 403, 403, 403, 200), kwargs={"week": "cohort_week", "index": "cohort_index"}
    ),
    "analytics-experiments": Route(statuses(401, 403, 403, 403, 200)),
    "analytics-experiment-results": Route(statuses(401, 403, 403, 403, 200), kwargs={"pk": "experiment"}),
}


def objects(world) -> dict[str, object]:
    import datetime

    from analytics.models import Experiment, KpiTarget
    from analytics.selectors.kpis import HEADLINE_KPIS

    monday = datetime.date.today() - datetime.timedelta(days=datetime.date.today().weekday() + 7)
    return {
        "experiment": Experiment.objects.create(
            name="Matrix experiment", key=f"matrix-{world.secret}", outcome_verb="checked_in"
        ),
        "target": KpiTarget.objects.get_or_create(
            kpi=sorted(HEADLINE_KPIS)[0], defaults={"comparison": KpiTarget.Comparison.values[0], "value": 10}
        )[0],
        "cohort_week": monday.isoformat(),
        "cohort_index": 0,
        "analytics_export": "kpis",
    }
