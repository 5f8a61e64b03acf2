"""REST endpoints of the integrations app under /api/v1/."""

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from integrations.api import events, exports, identities, merge, webhooks

router = DefaultRouter()
router.include_root_view = False
router.register("external-identities", identities.ExternalIdentityViewSet, basename="external-identity")
router.register("webhooks/subscriptions", webhooks.WebhookSubscriptionViewSet, basename="webhook-subscription")
router.register("webhooks/deliveries", webhooks.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = [
    path("events/", events.ProductEventsView.as_view(), name="product-events"),
    path("member-merges/", merge.MemberMergeView.as_view(), name="member-merge"),
    path("webhooks/event-types/", webhooks.WebhookEventTypesView.as_view(), name="webhook-event-types"),
    re_path(r"^exports/(?P<name>[a-z-]+)\.(?P<fmt>csv|json)$", exports.ExportView.as_view(), name="export"),
    path("", include(router.urls)),
]
