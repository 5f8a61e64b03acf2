from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("export/<slug:name>.csv", views.export_csv, name="export"),
    path("cohorts/", views.cohorts, name="cohorts"),
    path("cohorts/<str:week>/<int:index>/", views.cohort_cell, name="cohort_cell"),
    path("churn/", views.churn, name="churn"),
    path("targets/", views.target_list, name="targets"),
    path("targets/<int:pk>/delete/", views.target_delete, name="target_delete"),
    path("rebuild/", views.rebuild, name="rebuild"),
    path("experiments/", views.experiment_list, name="experiments"),
    path("experiments/<int:pk>/", views.experiment_detail, name="experiment"),
]
