"""The one-member notification path: channels, e-mail status, what is stored, and what it costs."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template.loader import render_to_string
from django.utils import timezone, translation

from community import notification_kinds, notifications, services
from community.models import Notification
from members.models import Member, User
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

CONCRETE = [field.attname for field in Notification._meta.concrete_fields]


@pytest.fixture
def person(db):
    member = MemberFactory(display_name="Shen")
    return Member.objects.select_related("user").get(pk=member.pk)


def welcome(member, **kwargs):
    return services.notify(member=member, kind="welcome", context={"name": "Shen"}, **kwargs)


def stored(notification):
    return {name: getattr(Notification.objects.get(pk=notification.pk), name) for name in CONCRETE}


@pytest.mark.parametrize(
    ("in_portal", "email", "status"),
    [(True, True, "pending"), (True, False, "skipped"), (False, True, "pending")],
)
def test_the_preference_decides_the_channels(person, django_capture_on_commit_callbacks, in_portal, email, status):
    services.notification_preference_set(member=person, kind="welcome", in_portal=in_portal, email=email)

    with django_capture_on_commit_callbacks() as callbacks:
        notification = welcome(person)

    assert (notification.show_in_portal, notification.email_status) == (in_portal, status)
    assert stored(notification) == {name: getattr(notification, name) for name in CONCRETE}
    assert len(callbacks) == (1 if status == "pending" else 0)


def test_every_channel_off_stores_and_queues_nothing(person, django_capture_on_commit_callbacks):
    services.notification_preference_set(member=person, kind="welcome", in_portal=False, email=False)

    with django_capture_on_commit_callbacks() as callbacks:
        assert welcome(person) is None

    assert callbacks == []
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("in_portal", "email", "expected"),
    [(True, False, (True, "skipped")), (False, True, (False, "pending")), (False, False, None)],
)
def test_without_a_preference_the_kinds_defaults_apply(person, monkeypatch, in_portal, email, expected):
    kind = replace(notification_kinds.KINDS["welcome"], in_portal_default=in_portal, email_default=email)
    monkeypatch.setitem(notification_kinds.KINDS, "welcome", kind)

    notification = welcome(person)

    assert (notification and (notification.show_in_portal, notification.email_status)) == expected


def test_another_members_preference_and_setting_do_not_apply(person):
    other = MemberFactory()
    services.notification_preference_set(member=other, kind="welcome", in_portal=False, email=False)
    notifications.email_frequency_set(member=other, frequency="daily")
    notifications.email_bounce_record(email=other.user.email)

    notification = welcome(person)

    assert (notification.show_in_portal, notification.email_status) == (True, "pending")


@pytest.mark.parametrize("frequency", [None, "immediate", "daily", "weekly"])
@pytest.mark.parametrize("bounced", [False, True])
def test_the_email_setting_decides_the_status(person, django_capture_on_commit_callbacks, frequency, bounced):
    if frequency is not None:
        notifications.email_frequency_set(member=person, frequency=frequency)
    if bounced:
        notifications.email_bounce_record(email=person.user.email)
    expected = {None: "pending", "immediate": "pending", "daily": "digest", "weekly": "digest"}[frequency]
    expected = "bounced" if bounced else expected

    with django_capture_on_commit_callbacks() as callbacks:
        notification = welcome(person)

    assert notification.email_status == expected
    assert notification.email_status == notifications.status_for_mode(notifications.email_mode(member=person))
    assert Notification.objects.get(pk=notification.pk).email_status == expected
    assert len(callbacks) == (1 if expected == "pending" else 0)


@pytest.mark.parametrize("account", [{"is_active": False}, {"email": ""}])
def test_an_account_that_cannot_take_email_is_skipped_whatever_the_setting(person, account):
    notifications.email_frequency_set(member=person, frequency="daily")
    User.objects.filter(pk=person.user_id).update(**account)
    person.user.refresh_from_db()

    assert welcome(person).email_status == "skipped"


def test_the_text_is_rendered_in_the_members_language(person):
    person.locale = "zh-hans"
    person.save()

    with translation.override("en"):
        notification = welcome(person)
        assert translation.get_language() == "en"

    context = {"name": "Shen", "member": person, "site_url": "x"}
    with translation.override("zh-hans"):
        title = render_to_string("notifications/welcome/title.txt", context).strip()
        body = render_to_string("notifications/welcome/body.txt", context).strip()
    with translation.override("en"):
        english = render_to_string("notifications/welcome/title.txt", context).strip()
    row = Notification.objects.get(pk=notification.pk)
    assert (row.title, row.body) == (title, body)
    assert title != english


def test_what_is_stored_and_returned(person):
    moment = datetime(2025, 3, 10, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    context = {"name": "x" * 300, "at": moment, "day": date(2025, 3, 10), "amount": Decimal("1.50"), "n": [1, 2]}
    before = timezone.now()

    notification = services.notify(member=person, kind="welcome", context=context, url="/points/")

    row = stored(notification)
    assert row == {name: getattr(notification, name) for name in CONCRETE}
    assert row["context"] == {"name": "x" * 300, "at": "2025-03-10T09:30:00+08:00", "day": "2025-03-10"} | {
        "amount": "1.50",
        "n": [1, 2],
    }
    assert len(row["title"]) == 200 and row["title"].startswith("Welcome, xxx")
    assert row["url"] == "/points/" and row["kind"] == "welcome" and row["member_id"] == person.pk
    assert (row["read_at"], row["email_attempts"], row["email_sent_at"]) == (None, 0, None)
    assert before <= row["created_at"] <= timezone.now()
    assert not notification._state.adding and notification.member is person


def test_one_notify_is_one_statement(person, django_assert_num_queries, django_capture_on_commit_callbacks):
    notifications.email_frequency_set(member=person, frequency="daily")
    services.notification_preference_set(member=person, kind="welcome", in_portal=True, email=True)

    with django_assert_num_queries(1), django_capture_on_commit_callbacks():
        welcome(person)
