from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from community import views
from community.api import views as api_views
from members.api import MemberViewSet

# The admin log-in goes through allauth, so its rate limits protect operators' accounts too.
admin.site.login = secure_admin_login(admin.site.login)

router = DefaultRouter()
router.include_root_view = False
router.register("notifications", api_views.NotificationViewSet, basename="notification")
router.register("activity", api_views.ActivityViewSet, basename="activity")
router.register("tokens", api_views.ApiTokenViewSet, basename="apitoken")
router.register("members", MemberViewSet, basename="member")

api_v1 = [
    path("", include(router.urls)),
    path("notification-preferences/", api_views.NotificationPreferenceView.as_view(), name="notification-preferences"),
    path("notification-email/", api_views.NotificationEmailView.as_view(), name="notification-email"),
    path("notification-bounces/", api_views.NotificationBounceView.as_view(), name="notification-bounces"),
    path(
        "notification-preferences/<str:kind>/",
        api_views.NotificationPreferenceDetailView.as_view(),
        name="notification-preference-detail",
    ),
]

portal = [
    path("", views.home, name="home"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read-all/", views.notification_mark_all_read, name="notifications_read_all"),
    path("notifications/<int:pk>/open/", views.notification_open, name="notification_open"),
    path("settings/notifications/", views.notification_settings, name="notification_settings"),
    path("settings/notifications/email/", views.notification_email_frequency, name="notification_email_frequency"),
    path("notifications/unsubscribe/<str:token>/", views.notification_unsubscribe, name="notification_unsubscribe"),
    path("settings/profile/", views.profile, name="profile"),
    path("settings/api-tokens/", views.api_tokens, name="api_tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("language/", views.set_language, name="set_language"),
]

# The API comes first under one prefix: a call is matched against the API's routes only, not first against every
# portal page (URL resolution tries patterns in order, and it ran on every request). Within it the rewards routes
# come first: leaderboard reads and awards are the calls integrations make most, and trying some fifty other
# patterns before them was a fifth of a leaderboard read. No two of these includes match the same path.
api = [
    path("", include("rewards.api_urls")),
    path("", include(api_v1)),
    path("", include("integrations.api_urls")),
    path("analytics/", include("analytics.api.urls")),
    path("", include("feedback.api_urls")),
    path("", include("engage.api_urls")),
    path("", include("members.api_urls")),
]

urlpatterns = [
    path("api/v1/", include(api)),
    path("", include((portal, "portal"))),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("rewards/", include("rewards.urls")),
    path("analytics/", include("analytics.urls")),
    path("feedback/", include("feedback.urls")),
    path("", include("engage.urls")),
    path("", include("members.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("health/", api_views.HealthView.as_view(), name="health"),
    # Only avatars are public files; feedback attachments are served by their own view, which checks visibility.
    path("media/avatars/<path:path>", serve, {"document_root": settings.MEDIA_ROOT / "avatars"}),
]
