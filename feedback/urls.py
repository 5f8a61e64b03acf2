"""Portal pages of feedback under /feedback/."""

from feedback.views import items, reports, surveys

app_name = "feedback"
# Surveys and reports first: "surveys/" and "report/" must not be read as an item's number.
urlpatterns = [*surveys.urlpatterns, *reports.urlpatterns, *items.urlpatterns]
