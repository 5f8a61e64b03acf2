"""Public Open Badges 2.0 documents. Included by `rewards.views.badges` under /rewards/badges/ob/; these paths are
the ids of every shared badge, so they must never move."""

from django.urls import path

from rewards import openbadges

urlpatterns = [
    path("issuer.json", openbadges.issuer_view, name="ob_issuer"),
    path("classes/<slug:slug>.json", openbadges.badge_class_view, name="ob_badge_class"),
    path("classes/<slug:slug>.svg", openbadges.badge_image_view, name="ob_badge_image"),
    path("assertions/<uuid:assertion_uuid>.json", openbadges.assertion_view, name="ob_assertion"),
]
