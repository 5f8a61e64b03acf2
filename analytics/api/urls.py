from django.urls import path, register_converter

from analytics.api import views


class IsoDateConverter:
    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str):
        from datetime import date

        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(value) from None

    def to_url(self, value) -> str:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)


register_converter(IsoDateConverter, "isodate")

urlpatterns = [
    path("kpis/", views.KpiView.as_view(), name="analytics-kpis"),
    path("series/", views.SeriesView.as_view(), name="analytics-series"),
    path("cohorts/", views.CohortView.as_view(), name="analytics-cohorts"),
    path(
        "cohorts/<isodate:week>/<int:index>/members/",
        views.CohortMembersView.as_view(),
        name="analytics-cohort-members",
    ),
    path("funnel/", views.FunnelView.as_view(), name="analytics-funnel"),
    path("experiments/", views.ExperimentListView.as_view(), name="analytics-experiments"),
    path("experiments/<int:pk>/results/", views.ExperimentResultView.as_view(), name="analytics-experiment-results"),
]
