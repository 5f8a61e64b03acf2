"""Notifications grown up: unsubscribe links, digests, bounces, fan-out."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from community import notifications, services
from community.models import Notification, NotificationEmailSetting, NotificationPreference
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def send_all():
    for pk in Notification.objects.filter(email_status="pending").values_list("pk", flat=True):
        services.notification_email_send(notification_id=pk)


def test_every_email_carries_a_one_click_unsubscribe_link_for_its_kind(member):
    services.notify(member=member, kind="operator_message", context={"subject": "Hi", "message": "Yo"})
    send_all()
    message = mail.outbox[0]
    header = message.extra_headers["List-Unsubscribe"]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = header.strip("<>")
    assert url in message.body
    token = url.rstrip("/").rsplit("/", 1)[-1]
    assert notifications.unsubscribe_token_read(token)[1] == "operator_message"


def test_unsubscribe_page_get_changes_nothing_and_post_switches_the_kind_off(client, member):
    token = notifications.unsubscribe_token(member_id=member.pk, kind="operator_message")
    url = f"/notifications/unsubscribe/{token}/"
    assert client.get(url).status_code == 200
    assert not NotificationPreference.objects.exists()
    response = client.post(url)  # no session, no CSRF token: the mail client's one-click POST
    assert response.status_code == 200
    pref = NotificationPreference.objects.get(member=member, kind="operator_message")
    assert pref.email is False and pref.in_portal is True
    assert client.post(url).status_code == 200  # again: nothing breaks


def test_unsubscribe_from_everything(client, member):
    token = notifications.unsubscribe_token(member_id=member.pk, kind=notifications.ALL_KINDS)
    client.post(f"/notifications/unsubscribe/{token}/")
    assert NotificationPreference.objects.filter(member=member, email=True).count() == 0
    assert NotificationPreference.objects.filter(member=member).count() > 5


def test_a_forged_unsubscribe_token_is_refused(client, member):
    token = notifications.unsubscribe_token(member_id=member.pk, kind="operator_message")
    assert client.post(f"/notifications/unsubscribe/{token[:-2]}xx/").status_code == 404
    assert not NotificationPreference.objects.exists()


def test_digest_readers_get_one_email_with_everything_waiting(member):
    notifications.email_frequency_set(member=member, frequency="daily")
    for n in range(3):
        services.notify(member=member, kind="operator_message", context={"subject": f"S{n}", "message": "m"})
    assert set(Notification.objects.values_list("email_status", flat=True)) == {"digest"}
    send_all()
    assert mail.outbox == []
    assert notifications.digest_member_ids(frequency="daily") == [member.pk]
    assert notifications.digest_member_ids(frequency="weekly") == []
    assert notifications.digest_send(member_id=member.pk) == 3
    assert notifications.digest_send(member_id=member.pk) == 0  # a second run sends nothing
    assert len(mail.outbox) == 1
    assert "S0" in mail.outbox[0].body and "S2" in mail.outbox[0].body
    assert set(Notification.objects.values_list("email_status", flat=True)) == {"sent"}


def test_switching_back_to_each_message_releases_the_waiting_ones(member):
    notifications.email_frequency_set(member=member, frequency="weekly")
    services.notify(member=member, kind="operator_message", context={"subject": "S", "message": "m"})
    notifications.email_frequency_set(member=member, frequency="immediate")
    assert Notification.objects.get().email_status == "pending"


def test_frequency_refuses_nonsense(member):
    from community.errors import ServiceError

    with pytest.raises(ServiceError):
        notifications.email_frequency_set(member=member, frequency="hourly")


def test_a_bounced_address_is_marked_and_never_retried(member, other_member):
    services.notify(member=member, kind="operator_message", context={"subject": "S", "message": "m"})
    assert notifications.email_bounce_record(email=member.user.email.upper(), reason="550 no such user") == 1
    assert Notification.objects.get().email_status == "bounced"
    assert NotificationEmailSetting.objects.get(member=member).bounced_at is not None
    later = services.notify(member=member, kind="operator_message", context={"subject": "S", "message": "m"})
    assert later.email_status == "bounced"
    send_all()
    assert mail.outbox == []
    assert notifications.email_bounce_record(email="nobody@example.com") == 0


def test_a_refused_recipient_is_a_bounce_not_a_retry(member, monkeypatch):
    def refuse(self, fail_silently=False):
        raise smtplib.SMTPRecipientsRefused({member.user.email: (550, b"no such user")})

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse)
    notification = services.notify(member=member, kind="operator_message", context={"subject": "S", "message": "m"})
    assert services.notification_email_send(notification_id=notification.pk) is False
    notification.refresh_from_db()
    assert notification.email_status == "bounced"
    assert notification.email_attempts == 1
    assert services.notification_email_send(notification_id=notification.pk) is False


def test_clearing_a_bounce_emails_again(member, operator):
    notifications.email_bounce_record(email=member.user.email)
    notifications.email_bounce_clear(member=member, actor=operator.user)
    assert services.notify(member=member, kind="welcome", context={"name": "x"}).email_status == "pending"


def test_fan_out_respects_preferences_and_languages(django_capture_on_commit_callbacks):
    members = MemberFactory.create_batch(4)
    members[1].locale = "zh-hans"
    members[1].save()
    NotificationPreference.objects.create(member=members[2], kind="welcome", in_portal=False, email=False)
    notifications.email_frequency_set(member=members[3], frequency="daily")
    from members.models import Member

    loaded = list(Member.objects.select_related("user").filter(pk__in=[m.pk for m in members]))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = notifications.notify_bulk(members=loaded, kind="welcome", context={"name": "Ana"}, url="/")
    assert created == 3
    by_member = {n.member_id: n for n in Notification.objects.all()}
    assert members[2].pk not in by_member
    assert by_member[members[3].pk].email_status == "digest"
    assert by_member[members[0].pk].email_status == "pending"
    assert by_member[members[0].pk].title != by_member[members[1].pk].title  # English and Chinese
    assert len(callbacks) == 1


def test_fan_out_is_a_few_queries_whatever_the_size(django_assert_max_num_queries):
    from members.models import Member

    MemberFactory.create_batch(30)
    loaded = list(Member.objects.select_related("user"))
    with django_assert_max_num_queries(8):
        assert notifications.notify_bulk(members=loaded, kind="member_nudge") == 30


def test_api_bounce_endpoint_is_for_operators(api_member, api_operator, member):
    assert api_member.post("/api/v1/notification-bounces/", {"email": member.user.email}).status_code == 403
    response = api_operator.post("/api/v1/notification-bounces/", {"email": member.user.email, "reason": "hard"})
    assert response.status_code == 200 and response.json() == {"members": 1}
    assert api_operator.post("/api/v1/notification-bounces/", {"email": "nope"}).status_code == 400


def test_api_email_frequency(api_member, api_anon):
    assert api_member.get("/api/v1/notification-email/").json() == {"frequency": "immediate", "bounced": False}
    assert api_member.put("/api/v1/notification-email/", {"frequency": "weekly"}).json()["frequency"] == "weekly"
    assert api_member.put("/api/v1/notification-email/", {"frequency": "hourly"}).status_code == 400
    assert api_anon.get("/api/v1/notification-email/").status_code == 401


def test_portal_email_frequency_form(web_member, member):
    response = web_member.post("/settings/notifications/email/", {"frequency": "daily"})
    assert response.status_code == 302
    assert NotificationEmailSetting.objects.get(member=member).frequency == "daily"
    assert "daily" in web_member.get("/settings/notifications/").content.decode()
