"""Accounts through allauth's real pages: sign-up, verification, log-in, reset, log-out, rate limits, admin log-in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from community.models import AuditLog, Notification
from members.models import Member, User
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

SIGNUP = "/accounts/signup/"
LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
RESET = "/accounts/password/reset/"
PASSWORD = "kettle-harbour-93"
CONFIRM_LINK = re.compile(r"/accounts/confirm-email/(?P<key>[^/\s]+)/")
RESET_LINK = re.compile(r"/accounts/password/reset/key/(?P<key>[^/\s]+)/")


def signup(client, *, email: str = "new.person@example.com", **overrides: str):
    data = {"email": email, "password1": PASSWORD, "password2": PASSWORD, "display_name": "New Person", **overrides}
    return client.post(SIGNUP, data)


def login(client, email: str, password: str = PASSWORD):
    return client.post(LOGIN, {"login": email, "password": password})


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def confirmation_key(message) -> str:
    match = CONFIRM_LINK.search(message.body)
    assert match, message.body
    return match["key"]


# --- sign-up ----------------------------------------------------------------------------------------------


def test_signup_page_has_the_display_name_field(client):
    response = client.get(SIGNUP)

    assert response.status_code == 200
    assert 'name="display_name"' in response.content.decode()


def test_signup_creates_account_profile_welcome_and_sends_verification(client):
    response = signup(client, email="Ada.Lovelace@Example.com", display_name="  Ada  ")

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get()
    assert user.email == "ada.lovelace@example.com"
    assert user.check_password(PASSWORD)
    member = Member.objects.get(user=user)
    assert member.display_name == "Ada"
    assert member.locale == "en"
    welcome = Notification.objects.get(member=member)
    assert welcome.kind == "welcome"
    assert welcome.title == "Welcome, Ada!"
    assert "Hi Ada," in welcome.body
    assert welcome.email_status == Notification.EmailStatus.PENDING
    assert AuditLog.objects.filter(action="member.create", object_id=str(member.pk), actor=user).exists()
    address = EmailAddress.objects.get(user=user)
    assert address.email == "ada.lovelace@example.com" and not address.verified
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada.lovelace@example.com"]
    assert confirmation_key(mail.outbox[0])
    assert not is_logged_in(client)


def test_account_emails_name_the_community_not_the_placeholder_site(client, settings):
    settings.SITE_URL = "https://community.example.org"
    signup(client, email="named@example.com")

    message = mail.outbox[0]
    assert message.subject.startswith("[Hearth community] ")
    assert "Hello from Hearth community!" in message.body
    assert "community.example.org" in message.body
    assert "example.com!" not in message.body


def test_signup_welcome_email_goes_out_once_the_signup_commits(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        signup(client, email="grace@example.com", display_name="Grace")

    subjects = [message.subject for message in mail.outbox]
    assert "Welcome, Grace!" in subjects
    assert Notification.objects.get().email_status == Notification.EmailStatus.SENT


def test_signup_succeeds_while_the_task_broker_is_down(client, monkeypatch, django_capture_on_commit_callbacks):
    from kombu.exceptions import OperationalError

    from community import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to broker. Connection refused.")

    monkeypatch.setattr(tasks.notification_send_email, "delay", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        response = signup(client, email="outage@example.com", display_name="Otto")

    assert response.status_code == 302
    welcome = Notification.objects.get(member__user__email="outage@example.com")
    assert welcome.email_status == Notification.EmailStatus.PENDING  # the sweep sends it later


def test_signup_requires_a_display_name(client):
    response = signup(client, display_name="")

    assert response.status_code == 200
    assert response.context["form"].errors["display_name"]
    assert not User.objects.exists()


def test_signup_rejects_a_display_name_over_80_characters(client):
    response = signup(client, display_name="x" * 81)

    assert response.status_code == 200
    assert "display_name" in response.context["form"].errors
    assert not User.objects.exists()


@pytest.mark.parametrize("taken", ["lin.mei@example.com", "LIN.Mei@Example.COM"])
def test_signup_with_a_taken_email_never_makes_a_second_account(client, taken):
    existing = MemberFactory(user__email="lin.mei@example.com").user
    mail.outbox.clear()

    response = signup(client, email=taken)

    # Enumeration prevention (allauth's default, kept on): the page looks like a normal sign-up and the owner of
    # the address is told by email that an account exists; no form error would reveal who is a member.
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert len(mail.outbox) == 1
    assert "Account Already Exists" in mail.outbox[0].subject
    assert list(User.objects.values_list("pk", flat=True)) == [existing.pk]
    assert Member.objects.count() == 1
    assert all(message.to == ["lin.mei@example.com"] for message in mail.outbox)
    assert not any(CONFIRM_LINK.search(message.body) for message in mail.outbox)
    assert not is_logged_in(client)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"email": ""}, "email"),
        ({"password2": "kettle-harbour-94"}, "password2"),
        ({"password1": "password", "password2": "password"}, "password1"),
        ({"password1": "12345678", "password2": "12345678"}, "password1"),
        ({"password1": "abc", "password2": "abc"}, "password1"),
    ],
)
def test_signup_form_errors(client, overrides, field):
    response = signup(client, **overrides)

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not User.objects.exists()
    assert not Member.objects.exists()
    assert mail.outbox == []


def test_signup_password_similar_to_the_email_is_refused(client):
    response = signup(client, email="harbourkettle@example.com", password1="harbourkettle", password2="harbourkettle")

    assert response.status_code == 200
    assert response.context["form"].errors
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "language_headers",
    [{"HTTP_ACCEPT_LANGUAGE": "zh-hans"}, {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}, {"cookie": "zh-hans"}],
    ids=["accept-language", "accept-language-region", "language-cookie"],
)
def test_signup_in_chinese_stores_the_members_language(client, settings, language_headers):
    headers = dict(language_headers)
    cookie = headers.pop("cookie", None)
    if cookie:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = cookie

    response = client.post(
        SIGNUP,
        {"email": "wang@example.com", "password1": PASSWORD, "password2": PASSWORD, "display_name": "王芳"},
        **headers,
    )

    assert response.status_code == 302
    member = Member.objects.get(user__email="wang@example.com")
    assert member.locale == "zh-hans"
    assert member.display_name == "王芳"
    assert Notification.objects.filter(member=member, kind="welcome").exists()


def test_signup_in_chinese_greets_in_chinese_once_the_catalogue_translates_it(client):
    with translation.override("zh-hans"):
        translated = gettext("Welcome, %(name)s!")
    assert translated != "Welcome, %(name)s!", "the zh_Hans catalogue must translate the welcome title"

    client.post(
        SIGNUP,
        {"email": "li@example.com", "password1": PASSWORD, "password2": PASSWORD, "display_name": "李雷"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    welcome = Notification.objects.get(member__user__email="li@example.com", kind="welcome")
    assert welcome.title == translated % {"name": "李雷"}


def test_signup_in_english_stores_english(client):
    client.post(
        SIGNUP,
        {"email": "en@example.com", "password1": PASSWORD, "password2": PASSWORD, "display_name": "En"},
        HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8",
    )

    assert Member.objects.get(user__email="en@example.com").locale == "en"


# --- verification and log-in ------------------------------------------------------------------------------


def test_login_is_refused_until_the_email_is_verified_then_verifying_logs_in(client):
    signup(client, email="ver@example.com", display_name="Vera")
    key = confirmation_key(mail.outbox[0])
    client.cookies.clear()  # a later visit, e.g. from another browser

    response = login(client, "ver@example.com")

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert not is_logged_in(client)
    assert client.get("/notifications/").status_code == 302

    confirm_url = reverse("account_confirm_email", args=[key])
    page = client.get(confirm_url)
    assert page.status_code == 200
    assert not EmailAddress.objects.get(email="ver@example.com").verified  # a GET never confirms

    response = client.post(confirm_url)

    assert response.status_code == 302
    assert EmailAddress.objects.get(email="ver@example.com").verified
    assert is_logged_in(client)
    assert int(client.session["_auth_user_id"]) == User.objects.get(email="ver@example.com").pk
    home = client.get("/")
    assert "Hello, Vera" in home.content.decode()


def test_verifying_right_after_signup_logs_in(client):
    signup(client, email="quick@example.com", display_name="Quick")

    response = client.post(reverse("account_confirm_email", args=[confirmation_key(mail.outbox[0])]))

    assert response.status_code == 302
    assert is_logged_in(client)


def test_a_bad_confirmation_key_shows_the_invalid_link_page(client):
    url = reverse("account_confirm_email", args=["not-a-real-key"])

    page = client.get(url)
    assert page.status_code == 200
    assert page.context["confirmation"] is None
    assert client.post(url).status_code == 404
    assert not EmailAddress.objects.filter(verified=True).exists()


def test_verified_member_logs_in_with_email_in_any_case(client, member):
    response = login(client, member.user.email.upper(), "correct horse battery")

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert int(client.session["_auth_user_id"]) == member.user.pk


def test_login_shows_the_portal_in_the_members_language_on_a_new_browser(client, settings):
    member = MemberFactory(locale="zh-hans")

    response = login(client, member.user.email, "correct horse battery")

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"


def test_login_keeps_the_language_the_browser_chose(client, settings):
    member = MemberFactory(locale="zh-hans")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = login(client, member.user.email, "correct horse battery")

    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


@pytest.mark.parametrize("url", ["/accounts/email/", "/accounts/password/change/", LOGOUT, "/accounts/confirm-email/"])
def test_account_pages_render_in_the_portal_layout(web_member, url):
    response = web_member.get(url)

    assert response.status_code == 200
    text = response.content.decode()
    assert 'class="card auth"' in text
    assert reverse("portal:profile") in text  # the portal navigation around allauth's page


@pytest.mark.parametrize("url", [LOGIN, SIGNUP, RESET])
def test_entrance_pages_render_for_anonymous_visitors(client, url):
    response = client.get(url)

    assert response.status_code == 200
    assert 'class="card auth"' in response.content.decode()


def test_wrong_password_shows_an_error(client, member):
    response = login(client, member.user.email, "wrong horse battery")

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "not correct" in response.content.decode()
    assert not is_logged_in(client)


def test_unknown_email_shows_the_same_error(client):
    response = login(client, "nobody@example.com", "whatever-password")

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not is_logged_in(client)


def test_login_rate_limit_kicks_in_after_repeated_failures(client, member):
    for _attempt in range(5):
        response = login(client, member.user.email, "wrong horse battery")
        assert response.status_code == 200
        assert "Too many failed login attempts" not in response.content.decode()

    response = login(client, member.user.email, "wrong horse battery")
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()

    # Even the right password is refused while the limit holds.
    response = login(client, member.user.email, "correct horse battery")
    assert response.status_code == 200
    assert not is_logged_in(client)


def test_logout_via_post(client, member):
    client.force_login(member.user)

    response = client.post(LOGOUT)

    assert response.status_code == 302
    assert not is_logged_in(client)


def test_logout_get_does_not_log_out(client, member):
    client.force_login(member.user)

    response = client.get(LOGOUT)

    assert response.status_code == 200
    assert is_logged_in(client)


# --- password reset ---------------------------------------------------------------------------------------


def test_password_reset_sends_an_email_whose_key_sets_a_new_password(client, member):
    response = client.post(RESET, {"email": member.user.email})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [member.user.email]
    match = RESET_LINK.search(mail.outbox[0].body)
    assert match, mail.outbox[0].body

    page = client.get(match.group(0), follow=True)
    assert page.status_code == 200
    assert "Bad Token" not in page.content.decode()
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else match.group(0)
    response = client.post(form_url, {"password1": "new-kettle-harbour-7", "password2": "new-kettle-harbour-7"})

    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password("new-kettle-harbour-7")


def test_password_reset_for_an_unknown_email_sends_no_reset_link(client):
    response = client.post(RESET, {"email": "nobody@example.com"})

    assert response.status_code in (200, 302)
    assert not any(RESET_LINK.search(message.body) for message in mail.outbox)


@pytest.mark.parametrize("key", ["1-bad-key", "zz-set-password", "2b-c5kl3x-0123456789abcdef0123456789abcdef"])
def test_password_reset_with_a_bad_key_shows_bad_token(client, member, key):
    response = client.get(f"/accounts/password/reset/key/{key}/", follow=True)

    assert response.status_code == 200
    assert "Bad Token" in response.content.decode()


def test_password_reset_with_an_expired_key_shows_bad_token(client, member, settings, monkeypatch):
    from django.contrib.auth.tokens import PasswordResetTokenGenerator

    client.post(RESET, {"email": member.user.email})
    link = RESET_LINK.search(mail.outbox[0].body).group(0)
    later = PasswordResetTokenGenerator._now(PasswordResetTokenGenerator()) + timedelta(
        seconds=settings.PASSWORD_RESET_TIMEOUT + 60
    )
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)

    response = client.get(link, follow=True)

    assert response.status_code == 200
    assert "Bad Token" in response.content.decode()


def test_password_reset_with_a_used_key_shows_bad_token(client, member):
    client.post(RESET, {"email": member.user.email})
    link = RESET_LINK.search(mail.outbox[0].body).group(0)
    page = client.get(link, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    client.post(form_url, {"password1": "new-kettle-harbour-7", "password2": "new-kettle-harbour-7"})
    client.logout()

    response = client.get(link, follow=True)

    assert response.status_code == 200
    assert "Bad Token" in response.content.decode()


# --- the admin log-in -------------------------------------------------------------------------------------


def test_admin_login_redirects_to_the_allauth_login(client):
    response = client.get("/admin/login/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")


def test_admin_index_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/admin/", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))


def test_admin_login_post_cannot_bypass_allauth(client, operator):
    response = client.post("/admin/login/", {"username": operator.user.email, "password": "correct horse battery"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not is_logged_in(client)


def test_operator_logs_in_through_allauth_and_lands_in_the_admin(client, operator):
    response = client.post(
        f"{LOGIN}?next=/admin/", {"login": operator.user.email, "password": "correct horse battery", "next": "/admin/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
