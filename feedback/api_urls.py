"""REST endpoints of feedback under /api/v1/; each topic module defines its own `urlpatterns`."""

from feedback.api import items, reports, surveys

urlpatterns = [*items.urlpatterns, *surveys.urlpatterns, *reports.urlpatterns]
