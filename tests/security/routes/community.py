"""Portal shell, accounts (allauth), API docs, health and the community API (inbox, activity, tokens)."""

from __future__ import annotations

from community import services
from tests.factories import ActivityFactory, NotificationFactory
from tests.security.routes import (
    API_MEMBER,
    API_OPERATOR,
    API_OWN,
    API_OWN_OR_OPERATOR,
    MEMBER_PAGE,
    PUBLIC,
    Route,
    statuses,
)

# Pages for visitors who are not signed in: a signed-in member is sent on (302).
SIGNED_OUT_PAGE = statuses(200, 302, 302, 302, 302)
# A POST-only portal action: anonymous visitors go to log in, members are sent back to a page.
MEMBER_ACTION = statuses(302, 302, 302, 302, 302)
OWN_ACTION = statuses(302, 302, 404, 404, 404)
API_MEMBER_POST = statuses(401, 400, 400, 400, 400)

ROUTES: dict[str, Route] = {
    # The portal
    "portal:home": Route(PUBLIC),
    "portal:notifications": Route(MEMBER_PAGE),
    "portal:notifications_read_all": Route(MEMBER_ACTION, method="post"),
    "portal:notification_open": Route(OWN_ACTION, method="post", kwargs={"pk": "notification"}),
    "portal:notification_settings": Route(MEMBER_PAGE),
    "portal:profile": Route(MEMBER_PAGE),
    "portal:api_tokens": Route(MEMBER_PAGE),
    "portal:api_token_revoke": Route(OWN_ACTION, method="post", kwargs={"pk": "api_token"}),
    "portal:set_language": Route(
        statuses(302, 302, 302, 302, 302), method="post", data={"language": "en"}, login_redirect=False
    ),
    # Accounts (django-allauth)
    "account_login": Route(SIGNED_OUT_PAGE),
    "account_logout": Route(statuses(302, 200, 200, 200, 200), login_redirect=False),
    "account_inactive": Route(PUBLIC),
    "account_signup": Route(SIGNED_OUT_PAGE),
    "account_reauthenticate": Route(MEMBER_PAGE),
    "account_email": Route(MEMBER_PAGE),
    "account_email_verification_sent": Route(PUBLIC),
    "account_change_password": Route(MEMBER_PAGE),
    "account_set_password": Route(statuses(302, 302, 302, 302, 302)),
    "account_reset_password": Route(PUBLIC),
    "account_confirm_login_code": Route(statuses(302, 302, 302, 302, 302)),
    "account_confirm_email": Route(PUBLIC, kwargs={"key": "bogus_key"}),
    "account_reset_password_from_key_done": Route(PUBLIC),
    "account_reset_password_from_key": Route(PUBLIC, kwargs={"uidb36": "bogus_uid", "key": "bogus_key"}),
    "account_reset_password_done": Route(PUBLIC),
    # API docs and health
    "schema": Route(PUBLIC),
    "api-docs": Route(PUBLIC),
    "api-redoc": Route(PUBLIC),
    "health": Route(PUBLIC),
    "media/avatars/<path:path>": Route(statuses(404, 404, 404, 404, 404), path="/media/avatars/nothing-here.png"),
    "portal:notification_email_frequency": Route(statuses(302, 405, 405, 405, 405)),
    "portal:notification_unsubscribe": Route(statuses(404, 404, 404, 404, 404), kwargs={"token": "bogus_key"}),
    "notification-email": Route(API_MEMBER),
    "notification-bounces": Route(statuses(401, 403, 403, 403, 400), method="post"),
    # The community API
    "notification-list": Route(API_MEMBER),
    "notification-detail": Route(API_OWN, kwargs={"pk": "notification"}),
    "notification-mark-read": Route(API_MEMBER, method="post"),
    "notification-unread-count": Route(API_MEMBER),
    "notification-preferences": Route(API_MEMBER),
    "notification-preference-detail": Route(API_MEMBER_POST, method="put", kwargs={"kind": "notification_kind"}),
    "activity-list": Route(API_MEMBER),
    "activity-detail": Route(API_OWN_OR_OPERATOR, kwargs={"pk": "activity"}),
    "apitoken-list": Route(API_MEMBER),
    "apitoken-detail": Route(statuses(401, 204, 404, 404, 404), method="delete", kwargs={"pk": "api_token"}),
    "member-list": Route(API_OPERATOR),
    "member-me": Route(API_MEMBER),
    "member-detail": Route(API_OWN_OR_OPERATOR, kwargs={"pk": "member"}),
}


def objects(world) -> dict[str, object]:
    member = world.member
    token, _key = services.api_token_create(user=member.user, name=f"token {world.secret}")
    return {
        "member": member,
        "notification": NotificationFactory(member=member, title=f"Notice {world.secret}", body=world.secret),
        "activity": ActivityFactory(member=member, verb="checked_in", data={"note": world.secret}),
        "api_token": token,
        "notification_kind": "operator_message",
        "bogus_key": "not-a-real-key",
        "bogus_uid": "zz",
    }
