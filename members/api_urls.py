"""REST endpoints of recruitment under /api/v1/ (members themselves are routed in community/urls.py)."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from members.api import recruitment

router = DefaultRouter()
router.include_root_view = False
router.register("rounds", recruitment.RoundViewSet, basename="round")
router.register("applications", recruitment.ApplicationViewSet, basename="application")

urlpatterns = [
    path("", include(router.urls)),
    path(
        "rounds/<int:pk>/usage-metrics/",
        recruitment.UsageMetricUpsertView.as_view(),
        name="round-usage-metrics",
    ),
]
