"""The member portal: every page for a member, for another member, and for an anonymous visitor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from community import services
from community.models import ApiToken, AuditLog, Notification, NotificationPreference
from members.models import Member
from tests.factories import ActivityFactory, MemberFactory, NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

# session, user, member (time zone middleware), unread count (navigation), activity summary (2), recent
# activity, latest notifications — the same for 2 rows or 30.
HOME_QUERIES = 8
# session, user, member, unread count, page count, page of notifications.
INBOX_QUERIES = 6
# session, user, member, unread count, tokens.
TOKENS_QUERIES = 5

MEMBER_PAGES = [
    "/notifications/",
    "/settings/notifications/",
    "/settings/profile/",
    "/settings/api-tokens/",
]


def page_text(response) -> str:
    return response.content.decode()


# --- anonymous visitors -----------------------------------------------------------------------------------


def test_home_for_anonymous_is_the_landing_page(client, member):
    response = client.get("/")

    assert response.status_code == 200
    assert response.templates[0].name == "portal/landing.html"
    text = page_text(response)
    assert reverse("account_signup") in text
    assert member.display_name not in text


@pytest.mark.parametrize("url", MEMBER_PAGES)
def test_member_pages_send_anonymous_visitors_to_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


@pytest.mark.parametrize(
    "url", ["/notifications/read-all/", "/notifications/1/open/", "/settings/api-tokens/1/revoke/"]
)
def test_member_actions_send_anonymous_visitors_to_log_in(client, url):
    response = client.post(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- home -------------------------------------------------------------------------------------------------


def test_home_shows_the_members_own_summary_only(web_member, member, other_member):
    today = timezone.now()
    ActivityFactory(member=member, verb="checked_in", occurred_at=today)
    ActivityFactory(member=member, verb="gave_feedback", occurred_at=today - timedelta(days=1))
    ActivityFactory(member=other_member, verb="secret_other_verb", occurred_at=today)
    NotificationFactory(member=member, title="Your own notice")
    NotificationFactory(member=other_member, title="Someone else's notice")

    response = web_member.get("/")

    assert response.status_code == 200
    text = page_text(response)
    assert "Hello, Lin Mei" in text
    assert "Zhang Wei" not in text
    assert "secret_other_verb" not in text
    assert "Someone else" not in text
    assert "Your own notice" in text
    # Known verbs read as words; unknown ones (e.g. from an integration) as they are.
    assert "Checked in" in text and "checked_in" not in text and "gave_feedback" in text
    summary = response.context["summary"]
    assert summary["actions"] == 2
    assert {row["verb"] for row in summary["per_verb"]} == {"checked_in", "gave_feedback"}
    assert response.context["unread_notifications"] == 1


def test_home_creates_the_profile_of_an_account_made_elsewhere(client):
    user = UserFactory(email="made.by.hand@example.com")
    client.force_login(user)

    response = client.get("/")

    assert response.status_code == 200
    member = Member.objects.get(user=user)
    assert member.display_name == "made.by.hand"
    assert not Notification.objects.filter(member=member).exists()


def test_home_hides_notifications_switched_off_in_the_portal(web_member, member):
    NotificationFactory(member=member, title="Email only", show_in_portal=False)

    response = web_member.get("/")

    assert "Email only" not in page_text(response)
    assert response.context["unread_notifications"] == 0


@pytest.mark.parametrize("rows", [2, 30])
def test_home_query_count_is_constant(web_member, member, django_assert_num_queries, rows):
    for index in range(rows):
        ActivityFactory(member=member, verb=f"verb_{index % 7}")
        NotificationFactory(member=member)

    with django_assert_num_queries(HOME_QUERIES):
        response = web_member.get("/")

    assert response.status_code == 200


def test_home_escapes_member_written_text(client):
    member = MemberFactory(display_name="<script>alert(1)</script>")
    NotificationFactory(member=member, title="<img src=x onerror=alert(1)>")
    client.force_login(member.user)

    text = page_text(client.get("/"))

    assert "<script>alert(1)</script>" not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;" in text


def test_navigation_shows_operations_only_to_operators(client, member, operator):
    client.force_login(member.user)
    assert reverse("admin:index") not in page_text(client.get("/"))

    client.force_login(operator.user)
    assert reverse("admin:index") in page_text(client.get("/"))


# --- notifications inbox ----------------------------------------------------------------------------------


def test_inbox_is_paginated_newest_first(web_member, member):
    start = timezone.now() - timedelta(hours=1)
    for index in range(25):
        NotificationFactory(member=member, title=f"Item {index:02d}", created_at=start + timedelta(minutes=index))

    first = web_member.get("/notifications/")
    second = web_member.get("/notifications/?page=2")

    assert first.status_code == 200 and second.status_code == 200
    first_titles = [n.title for n in first.context["page"].object_list]
    second_titles = [n.title for n in second.context["page"].object_list]
    assert len(first_titles) == 20 and len(second_titles) == 5
    assert first_titles[0] == "Item 24" and second_titles[-1] == "Item 00"
    assert "Page 1 of 2" in page_text(first)
    assert "?page=2" in page_text(first)


@pytest.mark.parametrize("page", ["999", "abc", "-1", "0"])
def test_inbox_with_an_odd_page_number_still_renders(web_member, member, page):
    NotificationFactory(member=member)

    response = web_member.get(f"/notifications/?page={page}")

    assert response.status_code == 200


def test_inbox_never_lists_another_members_notifications(web_member, member, other_member):
    NotificationFactory(member=member, title="Mine")
    NotificationFactory(member=other_member, title="Theirs")
    NotificationFactory(member=member, title="Email only", show_in_portal=False)

    response = web_member.get("/notifications/")

    titles = [n.title for n in response.context["page"].object_list]
    assert titles == ["Mine"]
    assert "Theirs" not in page_text(response)


@pytest.mark.parametrize("rows", [3, 30])
def test_inbox_query_count_is_constant(web_member, member, django_assert_num_queries, rows):
    NotificationFactory.create_batch(rows, member=member)

    with django_assert_num_queries(INBOX_QUERIES):
        response = web_member.get("/notifications/")

    assert response.status_code == 200


def test_opening_a_notification_marks_it_read_and_follows_its_local_link(web_member, member):
    notification = NotificationFactory(member=member, url="/rewards/")
    other = NotificationFactory(member=member)

    response = web_member.post(f"/notifications/{notification.pk}/open/")

    assert response.status_code == 302
    assert response["Location"] == "/rewards/"
    notification.refresh_from_db()
    other.refresh_from_db()
    assert notification.read_at is not None
    assert other.read_at is None


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "http:///evil.example",
        "javascript:alert(1)",
        "///evil.example",
        "\\\\evil.example",
        "",
    ],
)
def test_opening_a_notification_never_leaves_the_site(web_member, member, url):
    notification = NotificationFactory(member=member, url=url)

    response = web_member.post(f"/notifications/{notification.pk}/open/")

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:notifications")
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_opening_needs_post(web_member, member):
    notification = NotificationFactory(member=member)

    assert web_member.get(f"/notifications/{notification.pk}/open/").status_code == 405
    notification.refresh_from_db()
    assert notification.read_at is None


def test_opening_another_members_notification_is_404(web_member, other_member):
    theirs = NotificationFactory(member=other_member)

    response = web_member.post(f"/notifications/{theirs.pk}/open/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_read_marks_only_the_members_own(web_member, member, other_member):
    mine = NotificationFactory.create_batch(3, member=member)
    theirs = NotificationFactory(member=other_member)

    response = web_member.post("/notifications/read-all/", follow=True)

    assert response.status_code == 200
    assert not Notification.objects.filter(pk__in=[n.pk for n in mine], read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert "Marked 3 notifications read." in page_text(response)
    assert response.context["unread_notifications"] == 0


def test_mark_all_read_with_one_notification_reads_naturally(web_member, member):
    NotificationFactory(member=member)

    response = web_member.post("/notifications/read-all/", follow=True)

    assert "Marked 1 notification read." in page_text(response)


# --- notification settings --------------------------------------------------------------------------------


def test_notification_settings_show_the_defaults(web_member):
    response = web_member.get("/settings/notifications/")

    assert response.status_code == 200
    rows = {row["kind"]: row for row in response.context["rows"]}
    assert rows["welcome"]["in_portal"] and rows["welcome"]["email"]
    assert 'name="operator_message-email"' in page_text(response)


def settings_form(web_member, **choices: tuple[bool, bool]) -> dict[str, str]:
    """The settings form as shown (every kind at its current channels), with `choices` ticked or unticked."""
    data = {}
    for row in web_member.get("/settings/notifications/").context["rows"]:
        in_portal, email = choices.get(row["kind"], (row["in_portal"], row["email"]))
        if in_portal:
            data[f"{row['kind']}-in_portal"] = "on"
        if email:
            data[f"{row['kind']}-email"] = "on"
    return data


def test_notification_settings_are_saved(web_member, member):
    data = settings_form(web_member, welcome=(True, False), operator_message=(False, True))

    response = web_member.post("/settings/notifications/", data, follow=True)

    assert response.status_code == 200
    assert "Your notification settings are saved." in page_text(response)
    welcome = NotificationPreference.objects.get(member=member, kind="welcome")
    assert (welcome.in_portal, welcome.email) == (True, False)
    operator_message = NotificationPreference.objects.get(member=member, kind="operator_message")
    assert (operator_message.in_portal, operator_message.email) == (False, True)
    assert NotificationPreference.objects.filter(member=member).count() == 2  # untouched kinds keep their defaults
    rows = {row["kind"]: row for row in response.context["rows"]}
    assert (rows["welcome"]["in_portal"], rows["welcome"]["email"]) == (True, False)
    audit = AuditLog.objects.filter(action="notification_preference.set", actor=member.user)
    assert audit.count() == 2
    assert audit.get(object_id=str(welcome.pk)).after == {"kind": "welcome", "in_portal": True, "email": False}


def test_notification_settings_saved_again_unchanged_write_no_new_audit(web_member, member):
    data = settings_form(web_member, welcome=(True, False))
    web_member.post("/settings/notifications/", data)
    audited = AuditLog.objects.count()

    web_member.post("/settings/notifications/", data)

    assert AuditLog.objects.count() == audited


def test_notification_settings_do_not_touch_another_member(web_member, other_member):
    web_member.post("/settings/notifications/", {})

    assert not NotificationPreference.objects.filter(member=other_member).exists()


# --- profile ----------------------------------------------------------------------------------------------


def profile_data(member: Member, **changes: str) -> dict[str, str]:
    data = {
        "display_name": member.display_name,
        "bio": member.bio,
        "locale": member.locale,
        "time_zone": member.time_zone,
    }
    data.update(changes)
    return data


def test_profile_page_renders(web_member, member):
    response = web_member.get("/settings/profile/")

    assert response.status_code == 200
    assert response.context["form"].instance == member


def test_profile_saves_and_audits_the_change(web_member, member):
    response = web_member.post(
        "/settings/profile/", profile_data(member, display_name="Lin M.", time_zone="Europe/Berlin", bio="Hi!")
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:profile")
    member.refresh_from_db()
    assert (member.display_name, member.time_zone, member.bio) == ("Lin M.", "Europe/Berlin", "Hi!")
    audit = AuditLog.objects.get(action="member.profile_update", object_id=str(member.pk))
    assert audit.actor == member.user
    assert audit.before["display_name"] == "Lin Mei"
    assert audit.after["display_name"] == "Lin M."
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"display_name": "x" * 81}, "display_name"),
        ({"display_name": ""}, "display_name"),
        ({"locale": "fr"}, "locale"),
        ({"bio": "b" * 2001}, "bio"),
    ],
)
def test_profile_shows_field_errors_and_keeps_the_saved_profile(web_member, member, changes, field):
    response = web_member.post("/settings/profile/", profile_data(member, **{"bio": "edited", **changes}))

    assert response.status_code == 200
    assert field in response.context["form"].errors
    member.refresh_from_db()
    assert member.display_name == "Lin Mei"
    assert member.bio == ""
    assert not AuditLog.objects.filter(action="member.profile_update").exists()
    # The navigation greets the member by the saved name, not the rejected one.
    assert response.context["member"].display_name == "Lin Mei"


def test_profile_language_change_sets_the_cookie(web_member, member):
    response = web_member.post("/settings/profile/", profile_data(member, locale="zh-hans"))

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    member.refresh_from_db()
    assert member.locale == "zh-hans"


def test_profile_avatar_upload_and_clear(web_member, member):
    from io import BytesIO

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    upload = SimpleUploadedFile("me.png", buffer.getvalue(), content_type="image/png")

    response = web_member.post("/settings/profile/", {**profile_data(member), "avatar": upload})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.avatar.name.startswith("avatars/")

    response = web_member.post("/settings/profile/", {**profile_data(member), "avatar-clear": "on"})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.avatar.name == ""
    assert web_member.get("/settings/profile/").status_code == 200


def test_profile_refuses_a_file_that_is_not_an_image(web_member, member):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("me.png", b"not an image", content_type="image/png")

    response = web_member.post("/settings/profile/", {**profile_data(member), "avatar": upload})

    assert response.status_code == 200
    assert "avatar" in response.context["form"].errors


# --- API tokens -------------------------------------------------------------------------------------------


def test_api_tokens_page_creates_a_token_and_shows_the_secret_once(web_member, member):
    response = web_member.post("/settings/api-tokens/", {"name": "My script"})

    assert response.status_code == 200
    new_key = response.context["new_key"]
    assert new_key and new_key.startswith("hth_")
    assert new_key in page_text(response)
    token = ApiToken.objects.get(user=member.user)
    assert token.name == "My script"
    assert token.key_hash == services.api_token_hash(new_key)
    assert AuditLog.objects.filter(action="api_token.create", object_id=str(token.pk), actor=member.user).exists()

    again = web_member.get("/settings/api-tokens/")
    assert new_key not in page_text(again)
    assert "My script" in page_text(again)


def test_api_tokens_page_is_never_cached(web_member):
    response = web_member.post("/settings/api-tokens/", {"name": "secret shown here"})

    assert "no-store" in response["Cache-Control"]


def test_api_tokens_form_labels_follow_the_request_language(web_member):
    with translation.override("zh-hans"):
        expected = gettext("Name")
    if expected == "Name":
        pytest.skip("No catalogue translates the label yet.")
    web_member.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    response = web_member.get("/settings/api-tokens/")

    assert f'<label for="id_name">{expected}' in page_text(response)


def test_api_tokens_page_lists_only_the_members_own(web_member, member, other_member):
    services.api_token_create(user=member.user, name="mine")
    services.api_token_create(user=other_member.user, name="theirs")

    response = web_member.get("/settings/api-tokens/")

    assert [t.name for t in response.context["tokens"]] == ["mine"]
    assert "theirs" not in page_text(response)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "   "}, "This field is required."),
        ({"name": "dup"}, "You already have an active token with this name."),
        ({"name": "later", "expires_at": "2001-01-01T10:00"}, "The expiry must be in the future."),
        ({"name": "x" * 101}, "at most 100 characters"),
    ],
)
def test_api_tokens_page_shows_form_errors(web_member, member, data, message):
    services.api_token_create(user=member.user, name="dup")

    response = web_member.post("/settings/api-tokens/", data)

    assert response.status_code == 200
    assert response.context["new_key"] is None
    assert message in page_text(response)
    assert ApiToken.objects.filter(user=member.user).count() == 1


def test_api_token_with_an_expiry_is_created(web_member, member):
    later = (timezone.localtime(timezone.now(), timezone.get_current_timezone()) + timedelta(days=30)).strftime(
        "%Y-%m-%dT%H:%M"
    )

    response = web_member.post("/settings/api-tokens/", {"name": "ci", "expires_at": later})

    assert response.status_code == 200
    assert response.context["new_key"]
    assert ApiToken.objects.get(user=member.user).expires_at > timezone.now() + timedelta(days=29)


def test_revoking_a_token(web_member, member):
    token, _key = services.api_token_create(user=member.user, name="old")

    response = web_member.post(f"/settings/api-tokens/{token.pk}/revoke/", follow=True)

    assert response.status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "revoked" in page_text(response)
    assert AuditLog.objects.get(action="api_token.revoke", object_id=str(token.pk)).actor == member.user


def test_revoking_another_members_token_is_404(web_member, other_member):
    theirs, _key = services.api_token_create(user=other_member.user, name="theirs")

    response = web_member.post(f"/settings/api-tokens/{theirs.pk}/revoke/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoking_needs_post(web_member, member):
    token, _key = services.api_token_create(user=member.user, name="keep")

    assert web_member.get(f"/settings/api-tokens/{token.pk}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize("rows", [2, 30])
def test_api_tokens_page_query_count_is_constant(web_member, member, django_assert_num_queries, rows):
    for index in range(rows):
        token, _key = services.api_token_create(user=member.user, name=f"token {index}")
        if index % 3 == 0:
            services.api_token_revoke(actor=member.user, token=token)

    with django_assert_num_queries(TOKENS_QUERIES):
        response = web_member.get("/settings/api-tokens/")

    assert response.status_code == 200
    assert len(response.context["tokens"]) == rows


# --- language switch --------------------------------------------------------------------------------------


def test_language_switch_sets_the_cookie_and_the_members_language(web_member, member):
    response = web_member.post("/language/", {"language": "zh-hans", "next": "/notifications/"})

    assert response.status_code == 302
    assert response["Location"] == "/notifications/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    member.refresh_from_db()
    assert member.locale == "zh-hans"
    audit = AuditLog.objects.get(action="member.profile_update", object_id=str(member.pk))
    assert audit.actor == member.user
    assert (audit.before, audit.after) == ({"locale": "en"}, {"locale": "zh-hans"})
    page = web_member.get("/notifications/")
    assert page.context["LANGUAGE_CODE"] == "zh-hans"


def test_language_switch_for_an_anonymous_visitor_only_sets_the_cookie(client, member):
    response = client.post("/language/", {"language": "zh-hans", "next": "/"})

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    member.refresh_from_db()
    assert member.locale == "en"


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "http://testserver.evil.example/"]
)
def test_language_switch_rejects_an_off_site_next(web_member, next_url):
    response = web_member.post("/language/", {"language": "en", "next": next_url})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_language_switch_rejects_an_unknown_language(web_member, member):
    response = web_member.post("/language/", {"language": "xx", "next": "/notifications/"})

    assert response.status_code == 302
    assert response["Location"] == "/notifications/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    member.refresh_from_db()
    assert member.locale == "en"


def test_language_switch_needs_post(web_member):
    assert web_member.get("/language/?language=zh-hans").status_code == 405


def test_language_switch_to_the_current_language_writes_no_audit(web_member, member):
    web_member.post("/language/", {"language": "en", "next": "/"})

    assert not AuditLog.objects.filter(action="member.profile_update").exists()
