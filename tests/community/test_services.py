"""The shared write paths: activity stream, notifications and their emails, audit log, API tokens, staff roles."""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone, translation
from kombu.exceptions import OperationalError as KombuOperationalError

from community import activity_hooks, roles, services, tasks
from community.errors import ServiceError
from community.models import Activity, ApiToken, AuditLog, Notification, NotificationPreference
from members.models import Tag, User
from tests.factories import MemberFactory, NotificationFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")


@pytest.fixture(autouse=True)
def hooks(monkeypatch) -> list[list[Activity]]:
    """Stand in for the activity hooks other apps register (point rules, badges): record each call instead."""
    calls: list[list[Activity]] = []
    monkeypatch.setattr(activity_hooks, "_HOOKS", [lambda activities: calls.append(list(activities))])
    return calls


@pytest.fixture
def utc_member(db):
    return MemberFactory(display_name="Uma UTC", time_zone="UTC")


@pytest.fixture
def shanghai_member(db):
    return MemberFactory(display_name="Shen Shanghai", time_zone="Asia/Shanghai")


class TransportDown(Exception):
    pass


@pytest.fixture
def broken_transport(monkeypatch):
    def send(self, fail_silently=False):
        raise TransportDown("SMTP unreachable")

    monkeypatch.setattr(EmailMultiAlternatives, "send", send)


@pytest.fixture
def rendered_languages(monkeypatch):
    """The language active each time a service renders a template."""
    seen: list[str] = []
    real_render = services.render_to_string

    def spy(*args, **kwargs):
        seen.append(translation.get_language())
        return real_render(*args, **kwargs)

    monkeypatch.setattr(services, "render_to_string", spy)
    return seen


def pending_notification(member, **kwargs):
    defaults = {"email_status": Notification.EmailStatus.PENDING, "url": "/notifications/"}
    return NotificationFactory(member=member, **{**defaults, **kwargs})


# --- record_activity --------------------------------------------------------------------------------------


def test_record_activity_stores_the_action(shanghai_member):
    tag = Tag.objects.create(name="beta")
    moment = datetime(2025, 3, 10, 12, 0, tzinfo=SHANGHAI)

    activity = services.record_activity(
        member=shanghai_member, verb="joined_beta", target=tag, data={"when": moment, "n": 1}, occurred_at=moment
    )

    activity.refresh_from_db()
    assert activity.member == shanghai_member
    assert activity.verb == "joined_beta"
    assert activity.target_type == ContentType.objects.get_for_model(Tag)
    assert activity.target_id == str(tag.pk)
    assert activity.data == {"when": "2025-03-10T12:00:00+08:00", "n": 1}
    assert activity.occurred_at == moment
    assert activity.local_date == date(2025, 3, 10)


@pytest.mark.parametrize(
    ("moment", "shanghai_day", "utc_day"),
    [
        # 00:30 in Shanghai is still the previous evening in UTC.
        (datetime(2025, 3, 10, 0, 30, tzinfo=SHANGHAI), date(2025, 3, 10), date(2025, 3, 9)),
        # 23:30 UTC is already the next morning in Shanghai.
        (datetime(2025, 3, 9, 23, 30, tzinfo=UTC), date(2025, 3, 10), date(2025, 3, 9)),
        # 23:30 in Shanghai is the same afternoon in UTC.
        (datetime(2025, 3, 10, 23, 30, tzinfo=SHANGHAI), date(2025, 3, 10), date(2025, 3, 10)),
    ],
)
def test_record_activity_local_date_is_the_members_own_day(shanghai_member, utc_member, moment, shanghai_day, utc_day):
    in_shanghai = services.record_activity(member=shanghai_member, verb="checked_in", occurred_at=moment)
    in_utc = services.record_activity(member=utc_member, verb="checked_in", occurred_at=moment)

    assert Activity.objects.get(pk=in_shanghai.pk).local_date == shanghai_day
    assert Activity.objects.get(pk=in_utc.pk).local_date == utc_day


def test_record_activity_local_date_ignores_the_active_time_zone(utc_member):
    moment = datetime(2025, 3, 9, 23, 30, tzinfo=UTC)

    with timezone.override(SHANGHAI):
        activity = services.record_activity(member=utc_member, verb="checked_in", occurred_at=moment)

    assert activity.local_date == date(2025, 3, 9)


def test_record_activity_defaults_to_now(shanghai_member):
    before = timezone.now()

    activity = services.record_activity(member=shanghai_member, verb="checked_in")

    assert before <= activity.occurred_at <= timezone.now()
    assert activity.local_date == timezone.localdate(activity.occurred_at, timezone=SHANGHAI)


def test_record_activity_refuses_a_naive_datetime(shanghai_member):
    with pytest.raises(ValueError, match="timezone-aware"):
        services.record_activity(member=shanghai_member, verb="checked_in", occurred_at=datetime(2025, 3, 10, 9, 0))

    assert not Activity.objects.exists()


@pytest.mark.parametrize("verb", ["", "v" * 65])
def test_record_activity_refuses_a_bad_verb(shanghai_member, verb):
    with pytest.raises(ValueError):
        services.record_activity(member=shanghai_member, verb=verb)


def test_record_activity_with_the_same_dedupe_key_returns_the_same_row(shanghai_member):
    first = services.record_activity(member=shanghai_member, verb="attended", dedupe_key="evt-1:lin")

    again = services.record_activity(member=shanghai_member, verb="attended", dedupe_key="evt-1:lin")

    assert again.pk == first.pk
    assert Activity.objects.filter(dedupe_key="evt-1:lin").count() == 1


def test_record_activity_dedupe_keeps_the_surrounding_transaction_usable(shanghai_member):
    services.record_activity(member=shanghai_member, verb="attended", dedupe_key="evt-2")

    with transaction.atomic():
        services.record_activity(member=shanghai_member, verb="attended", dedupe_key="evt-2")
        later = services.record_activity(member=shanghai_member, verb="checked_in")

    assert Activity.objects.filter(pk=later.pk).exists()
    assert Activity.objects.count() == 2


def test_record_activity_runs_the_hooks_once_per_new_activity(shanghai_member, hooks):
    first = services.record_activity(member=shanghai_member, verb="attended", dedupe_key="evt-3")
    services.record_activity(member=shanghai_member, verb="attended", dedupe_key="evt-3")
    second = services.record_activity(member=shanghai_member, verb="checked_in")

    assert [[activity.pk for activity in call] for call in hooks] == [[first.pk], [second.pk]]


def test_a_failing_hook_rolls_the_activity_back(shanghai_member, monkeypatch):
    def refuse(activities):
        raise RuntimeError("the points ledger is unavailable")

    monkeypatch.setattr(activity_hooks, "_HOOKS", [refuse])

    with pytest.raises(RuntimeError):
        services.record_activity(member=shanghai_member, verb="checked_in")

    assert not Activity.objects.exists()


def test_record_activity_without_a_key_records_every_call(shanghai_member):
    services.record_activity(member=shanghai_member, verb="checked_in")
    services.record_activity(member=shanghai_member, verb="checked_in")

    assert Activity.objects.count() == 2


# --- activities_record_bulk -------------------------------------------------------------------------------


def bulk_entries(member, count: int, *, start: int = 0, moment: datetime | None = None) -> list[services.ActivityInput]:
    moment = moment or datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    return [
        services.ActivityInput(member=member, verb="attended", occurred_at=moment, dedupe_key=f"bulk-{start + i}")
        for i in range(count)
    ]


def test_bulk_records_each_entry_with_its_members_local_date(shanghai_member, utc_member):
    moment = datetime(2025, 3, 9, 23, 30, tzinfo=UTC)

    handed = services.activities_record_bulk(
        entries=[
            services.ActivityInput(member=shanghai_member, verb="attended", occurred_at=moment, data={"seat": 4}),
            services.ActivityInput(member=utc_member, verb="attended", occurred_at=moment),
        ]
    )

    assert handed == 2
    assert Activity.objects.get(member=shanghai_member).local_date == date(2025, 3, 10)
    assert Activity.objects.get(member=shanghai_member).data == {"seat": 4}
    assert Activity.objects.get(member=utc_member).local_date == date(2025, 3, 9)


def test_bulk_skips_dedupe_keys_already_recorded(shanghai_member):
    services.record_activity(member=shanghai_member, verb="attended", dedupe_key="bulk-1")
    services.activities_record_bulk(entries=bulk_entries(shanghai_member, 3))

    services.activities_record_bulk(entries=bulk_entries(shanghai_member, 5))

    assert sorted(Activity.objects.values_list("dedupe_key", flat=True)) == [f"bulk-{i}" for i in range(5)]


def test_bulk_ignores_a_key_repeated_within_one_call(shanghai_member):
    entries = bulk_entries(shanghai_member, 2) + bulk_entries(shanghai_member, 2)

    services.activities_record_bulk(entries=entries)

    assert Activity.objects.count() == 2


def test_bulk_inserts_one_batch_per_batch_size(shanghai_member, django_assert_max_num_queries):
    entries = bulk_entries(shanghai_member, 25)

    # A savepoint, the keys already recorded, three INSERTs of at most 10 rows, the new rows read back for the
    # hooks, and the savepoint's release.
    with django_assert_max_num_queries(7) as captured:
        services.activities_record_bulk(entries=entries, batch_size=10)

    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 3
    assert Activity.objects.count() == 25


def test_bulk_runs_the_hooks_once_with_just_the_new_activities(shanghai_member, utc_member, hooks):
    services.record_activity(member=shanghai_member, verb="attended", dedupe_key="bulk-0")
    hooks.clear()
    early = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
    late = early + timedelta(hours=1)
    entries = [
        services.ActivityInput(member=utc_member, verb="checked_in", occurred_at=late),
        *bulk_entries(shanghai_member, 3, moment=early),  # bulk-0 is already recorded
        services.ActivityInput(member=shanghai_member, verb="attended", occurred_at=late, dedupe_key="bulk-1"),
    ]

    services.activities_record_bulk(entries=entries)

    assert len(hooks) == 1
    (recorded,) = hooks
    expected = Activity.objects.exclude(dedupe_key="bulk-0").order_by("occurred_at", "id")
    assert [a.pk for a in recorded] == [a.pk for a in expected]
    assert [(a.occurred_at, a.dedupe_key) for a in recorded] == [
        (early, "bulk-1"),
        (early, "bulk-2"),
        (late, None),
    ]
    assert all(a.pk is not None and a.member.pk in {shanghai_member.pk, utc_member.pk} for a in recorded)


def test_bulk_with_nothing_new_runs_no_hook_work(shanghai_member, hooks):
    services.activities_record_bulk(entries=bulk_entries(shanghai_member, 2))
    hooks.clear()

    services.activities_record_bulk(entries=bulk_entries(shanghai_member, 2))

    assert hooks == []
    assert Activity.objects.count() == 2


def test_bulk_looks_keys_up_in_chunks(shanghai_member, hooks, monkeypatch):
    monkeypatch.setattr(services, "KEY_LOOKUP_CHUNK", 7)
    services.activities_record_bulk(entries=bulk_entries(shanghai_member, 10))
    hooks.clear()

    services.activities_record_bulk(entries=bulk_entries(shanghai_member, 30))

    assert Activity.objects.count() == 30
    assert sorted(a.dedupe_key for a in hooks[0]) == sorted(f"bulk-{i}" for i in range(10, 30))


def test_bulk_refuses_a_naive_datetime_and_records_nothing(shanghai_member):
    entries = [
        *bulk_entries(shanghai_member, 2),
        services.ActivityInput(member=shanghai_member, verb="attended", occurred_at=datetime(2025, 3, 10, 9, 0)),
    ]

    with pytest.raises(ValueError, match="timezone-aware"):
        services.activities_record_bulk(entries=entries)

    assert not Activity.objects.exists()


# --- notify -----------------------------------------------------------------------------------------------


def test_notify_creates_an_inbox_entry_and_emails_it_once_after_commit(
    shanghai_member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as pending:
        notification = services.notify(member=shanghai_member, kind="welcome", context={"name": "Shen"}, url="/")
        assert mail.outbox == []  # nothing leaves before the transaction commits
    assert len(pending) == 1
    for callback in pending:
        callback()

    notification.refresh_from_db()
    assert notification.title == "Welcome, Shen!"
    assert notification.show_in_portal
    assert notification.email_status == Notification.EmailStatus.SENT
    assert notification.email_attempts == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Welcome, Shen!"
    assert message.to == [shanghai_member.user.email]
    assert "Hi Shen," in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "Welcome, Shen!" in html

    for callback in pending:  # the task delivered twice (acks_late) sends nothing more
        callback()
    assert len(mail.outbox) == 1


def test_notify_with_commit_callbacks_executed_sends_exactly_one_email(
    shanghai_member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.notify(member=shanghai_member, kind="operator_message", context={"subject": "Hi", "message": "Yo"})

    assert len(callbacks) == 1
    assert [m.subject for m in mail.outbox] == ["Hi"]


def test_notify_survives_a_broker_outage_and_leaves_the_email_to_the_sweep(
    shanghai_member, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise KombuOperationalError("Error 111 connecting to broker. Connection refused.")

    monkeypatch.setattr(tasks.notification_send_email, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notification = services.notify(member=shanghai_member, kind="welcome", context={"name": "Shen"})

    assert len(callbacks) == 1
    notification.refresh_from_db()
    assert notification.email_status == Notification.EmailStatus.PENDING
    monkeypatch.undo()
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert tasks.notification_emails_send_pending() == 1
    assert len(mail.outbox) == 1


def test_notify_sends_nothing_when_the_transaction_rolls_back(shanghai_member, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        contextlib.suppress(RuntimeError),
        transaction.atomic(),
    ):
        services.notify(member=shanghai_member, kind="welcome", context={"name": "Shen"})
        raise RuntimeError("the surrounding change failed")

    assert callbacks == []
    assert mail.outbox == []
    assert not Notification.objects.exists()


def test_notify_returns_none_when_every_channel_is_off(shanghai_member, django_capture_on_commit_callbacks):
    services.notification_preference_set(member=shanghai_member, kind="welcome", in_portal=False, email=False)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = services.notify(member=shanghai_member, kind="welcome", context={"name": "Shen"})

    assert result is None
    assert callbacks == []
    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_notify_with_email_off_queues_no_email(shanghai_member, django_capture_on_commit_callbacks):
    services.notification_preference_set(member=shanghai_member, kind="welcome", in_portal=True, email=False)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notification = services.notify(member=shanghai_member, kind="welcome", context={"name": "Shen"})

    assert callbacks == []
    assert mail.outbox == []
    assert notification.show_in_portal
    assert notification.email_status == Notification.EmailStatus.SKIPPED


def test_notify_with_the_portal_off_still_emails(shanghai_member, django_capture_on_commit_callbacks):
    services.notification_preference_set(member=shanghai_member, kind="welcome", in_portal=False, email=True)

    with django_capture_on_commit_callbacks(execute=True):
        notification = services.notify(member=shanghai_member, kind="welcome", context={"name": "Shen"})

    assert not notification.show_in_portal
    assert len(mail.outbox) == 1


def test_notify_preference_of_another_kind_does_not_apply(shanghai_member, django_capture_on_commit_callbacks):
    services.notification_preference_set(member=shanghai_member, kind="operator_message", in_portal=False, email=False)

    with django_capture_on_commit_callbacks(execute=True):
        notification = services.notify(member=shanghai_member, kind="welcome", context={"name": "Shen"})

    assert notification is not None
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("account", [{"is_active": False}, {"email": ""}])
def test_notify_never_emails_an_inactive_or_addressless_account(
    django_capture_on_commit_callbacks, shanghai_member, account
):
    User.objects.filter(pk=shanghai_member.user_id).update(**account)
    shanghai_member.user.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notification = services.notify(member=shanghai_member, kind="welcome", context={"name": "Shen"})

    assert callbacks == []
    assert notification.email_status == Notification.EmailStatus.SKIPPED


def test_notify_refuses_an_unknown_kind(shanghai_member):
    with pytest.raises(ValueError, match="Unknown notification kind"):
        services.notify(member=shanghai_member, kind="no_such_kind")


def test_notify_renders_in_the_members_language(
    shanghai_member, rendered_languages, django_capture_on_commit_callbacks
):
    shanghai_member.locale = "zh-hans"
    shanghai_member.save()

    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        services.notify(member=shanghai_member, kind="welcome", context={"name": "Shen"})
        assert translation.get_language() == "en"  # the caller's language is left as it was

    # title and body for the inbox, then the text and HTML email
    assert rendered_languages == ["zh-hans"] * 4


def test_notify_escapes_nothing_in_plain_text_titles(shanghai_member):
    notification = services.notify(member=shanghai_member, kind="welcome", context={"name": "Tom & Jerry <3"})

    assert notification.title == "Welcome, Tom & Jerry <3!"


# --- notification preferences ------------------------------------------------------------------------------


def test_preference_set_is_audited_with_the_actor(shanghai_member, operator):
    preference = services.notification_preference_set(
        member=shanghai_member, kind="welcome", in_portal=False, email=True, actor=operator.user
    )

    audit = AuditLog.objects.get(action="notification_preference.set")
    assert audit.actor == operator.user
    assert audit.object_id == str(preference.pk)
    assert audit.before is None
    assert audit.after == {"kind": "welcome", "in_portal": False, "email": True}

    services.notification_preference_set(member=shanghai_member, kind="welcome", in_portal=True, email=True)

    latest = AuditLog.objects.filter(action="notification_preference.set").order_by("-id").first()
    assert latest.actor == shanghai_member.user
    assert (latest.before["in_portal"], latest.after["in_portal"]) == (False, True)
    assert NotificationPreference.objects.get(member=shanghai_member, kind="welcome").in_portal


def test_preference_set_refuses_an_unknown_kind(shanghai_member):
    with pytest.raises(ValueError):
        services.notification_preference_set(member=shanghai_member, kind="nope", in_portal=True, email=True)

    assert not NotificationPreference.objects.exists()


# --- notification_email_send ------------------------------------------------------------------------------


def test_email_send_is_idempotent(shanghai_member, settings):
    settings.SITE_URL = "https://community.example.org"
    notification = pending_notification(shanghai_member, title="Your badge", body="Well done.")

    assert services.notification_email_send(notification_id=notification.pk) is True
    assert services.notification_email_send(notification_id=notification.pk) is False

    assert len(mail.outbox) == 1
    assert "https://community.example.org/notifications/" in mail.outbox[0].body
    notification.refresh_from_db()
    assert notification.email_status == Notification.EmailStatus.SENT
    assert notification.email_sent_at is not None
    assert notification.email_attempts == 1


def test_email_send_uses_the_members_language(shanghai_member, rendered_languages):
    shanghai_member.locale = "zh-hans"
    shanghai_member.save()
    notification = pending_notification(shanghai_member)

    services.notification_email_send(notification_id=notification.pk)

    assert rendered_languages == ["zh-hans", "zh-hans"]


@pytest.mark.parametrize(
    "status", [Notification.EmailStatus.SKIPPED, Notification.EmailStatus.SENT, Notification.EmailStatus.FAILED]
)
def test_email_send_ignores_a_notification_that_is_not_pending(shanghai_member, status):
    notification = pending_notification(shanghai_member, email_status=status)

    assert services.notification_email_send(notification_id=notification.pk) is False
    assert mail.outbox == []


def test_email_send_for_a_missing_notification_is_a_no_op():
    assert services.notification_email_send(notification_id=987654) is False


def test_email_send_counts_failures_then_marks_failed(shanghai_member, settings, broken_transport):
    settings.HEARTH_NOTIFICATION_EMAIL_MAX_ATTEMPTS = 3
    notification = pending_notification(shanghai_member)

    for attempt in (1, 2):
        assert services.notification_email_send(notification_id=notification.pk) is False
        notification.refresh_from_db()
        assert notification.email_attempts == attempt
        assert notification.email_status == Notification.EmailStatus.PENDING

    assert services.notification_email_send(notification_id=notification.pk) is False
    notification.refresh_from_db()
    assert notification.email_attempts == 3
    assert notification.email_status == Notification.EmailStatus.FAILED
    assert notification.email_sent_at is None

    assert services.notification_email_send(notification_id=notification.pk) is False
    notification.refresh_from_db()
    assert notification.email_attempts == 3


def test_email_task_failure_does_not_raise_in_the_worker(shanghai_member, broken_transport):
    notification = pending_notification(shanghai_member)

    assert tasks.notification_send_email.delay(notification.pk).get() is False

    notification.refresh_from_db()
    assert notification.email_attempts == 1


# --- the pending-email sweep ------------------------------------------------------------------------------


def test_sweep_sends_what_was_left_pending(shanghai_member, utc_member, settings):
    settings.HEARTH_NOTIFICATION_EMAIL_MAX_ATTEMPTS = 3
    old = timezone.now() - timedelta(minutes=5)
    stranded = pending_notification(shanghai_member, created_at=old)
    retried = pending_notification(utc_member, created_at=old, email_attempts=2)
    just_created = pending_notification(shanghai_member)  # its own task is still on its way
    exhausted = pending_notification(shanghai_member, created_at=old, email_attempts=3)
    skipped = pending_notification(shanghai_member, created_at=old, email_status=Notification.EmailStatus.SKIPPED)

    sent = tasks.notification_emails_send_pending.delay().get()

    assert sent == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted([shanghai_member.user.email, utc_member.user.email])
    statuses = dict(Notification.objects.values_list("pk", "email_status"))
    assert statuses[stranded.pk] == statuses[retried.pk] == Notification.EmailStatus.SENT
    assert statuses[just_created.pk] == Notification.EmailStatus.PENDING
    assert statuses[exhausted.pk] == Notification.EmailStatus.PENDING
    assert statuses[skipped.pk] == Notification.EmailStatus.SKIPPED

    assert tasks.notification_emails_send_pending.delay().get() == 0
    assert len(mail.outbox) == 2


def test_sweep_retries_failures_until_the_limit(shanghai_member, settings, monkeypatch):
    settings.HEARTH_NOTIFICATION_EMAIL_MAX_ATTEMPTS = 2
    notification = pending_notification(shanghai_member, created_at=timezone.now() - timedelta(minutes=5))

    def send(self, fail_silently=False):
        raise TransportDown

    monkeypatch.setattr(EmailMultiAlternatives, "send", send)
    assert tasks.notification_emails_send_pending() == 0
    assert tasks.notification_emails_send_pending() == 0
    assert tasks.notification_emails_send_pending() == 0

    notification.refresh_from_db()
    assert notification.email_attempts == 2
    assert notification.email_status == Notification.EmailStatus.FAILED


# --- audit log --------------------------------------------------------------------------------------------


def test_model_snapshot_never_holds_a_password_hash(shanghai_member):
    user = shanghai_member.user

    snapshot = services.model_snapshot(user)

    assert "password" not in snapshot
    assert user.password not in json.dumps(snapshot)
    assert snapshot["email"] == user.email
    assert snapshot["id"] == user.pk


def test_model_snapshot_never_holds_a_token_hash(shanghai_member):
    token, raw_key = services.api_token_create(user=shanghai_member.user, name="x")

    snapshot = services.model_snapshot(token)

    assert "key_hash" not in snapshot
    dumped = json.dumps(snapshot)
    assert token.key_hash not in dumped and raw_key not in dumped
    assert snapshot["prefix"] == token.prefix
    assert snapshot["user"] == shanghai_member.user_id


def test_model_snapshot_of_chosen_fields_is_json_safe(shanghai_member):
    snapshot = services.model_snapshot(shanghai_member, ["display_name", "joined_at", "avatar"])

    assert set(snapshot) == {"display_name", "joined_at", "avatar"}
    assert snapshot["avatar"] == ""
    assert isinstance(snapshot["joined_at"], str)
    json.dumps(snapshot)


def test_audit_record_stores_actor_object_and_changes(shanghai_member, operator):
    record = services.audit_record(
        actor=operator.user,
        action="member.note",
        obj=shanghai_member,
        before={"when": datetime(2025, 1, 1, tzinfo=UTC)},
        after={"when": None},
    )

    record.refresh_from_db()
    assert record.actor == operator.user
    assert record.object_type == ContentType.objects.get_for_model(shanghai_member)
    assert record.object_id == str(shanghai_member.pk)
    assert record.object_repr == shanghai_member.display_name
    assert record.before == {"when": "2025-01-01T00:00:00Z"}
    assert record.after == {"when": None}


def test_audit_record_for_an_anonymous_actor_or_the_system_has_no_actor():
    from django.contrib.auth.models import AnonymousUser

    assert services.audit_record(actor=AnonymousUser(), action="system.thing").actor is None
    assert services.audit_record(actor=None, action="system.thing").actor is None


# --- API tokens -------------------------------------------------------------------------------------------


def test_api_token_create_audits_with_the_owner(shanghai_member):
    token, raw_key = services.api_token_create(user=shanghai_member.user, name="  sync  ")

    assert token.name == "sync"
    assert raw_key.startswith("hth_") and token.prefix == raw_key[4:12]
    assert ApiToken.objects.get(key_hash=services.api_token_hash(raw_key)) == token
    audit = AuditLog.objects.get(action="api_token.create")
    assert audit.actor == shanghai_member.user
    assert audit.object_id == str(token.pk)
    assert audit.after["name"] == "sync" and "key_hash" not in audit.after


@pytest.mark.parametrize(
    ("name", "expires_at", "field"),
    [
        ("", None, "name"),
        ("   ", None, "name"),
        ("n" * 101, None, "name"),
        ("ok", timezone.now() - timedelta(seconds=1), "expires_at"),
    ],
)
def test_api_token_create_refusals(shanghai_member, name, expires_at, field):
    with pytest.raises(ServiceError) as refused:
        services.api_token_create(user=shanghai_member.user, name=name, expires_at=expires_at)

    assert refused.value.field == field
    assert not ApiToken.objects.exists()
    assert not AuditLog.objects.exists()


def test_api_token_names_are_unique_among_active_tokens(shanghai_member, utc_member):
    token, _key = services.api_token_create(user=shanghai_member.user, name="sync")

    with pytest.raises(ServiceError) as refused:
        services.api_token_create(user=shanghai_member.user, name="sync")
    assert refused.value.field == "name"

    services.api_token_create(user=utc_member.user, name="sync")  # another account may use the name
    services.api_token_revoke(actor=shanghai_member.user, token=token)
    services.api_token_create(user=shanghai_member.user, name="sync")  # and so may a new token once revoked
    assert ApiToken.objects.filter(name="sync").count() == 3


def test_api_token_revoke_audits_with_the_acting_user_once(shanghai_member, operator):
    token, _key = services.api_token_create(user=shanghai_member.user, name="sync")

    revoked = services.api_token_revoke(actor=operator.user, token=token)
    again = services.api_token_revoke(actor=operator.user, token=token)

    assert revoked.revoked_at is not None and again.revoked_at == revoked.revoked_at
    assert not revoked.is_active
    audits = AuditLog.objects.filter(action="api_token.revoke")
    assert audits.count() == 1
    audit = audits.get()
    assert audit.actor == operator.user
    assert audit.before["revoked_at"] is None and audit.after["revoked_at"] is not None


# --- staff roles ------------------------------------------------------------------------------------------


def group_permissions(name: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename")
    }


def test_roles_sync_creates_the_three_groups_with_their_permissions():
    roles.roles_sync()

    assert set(Group.objects.filter(name__in=roles.ROLES).values_list("name", flat=True)) == set(roles.ROLES)

    operator = group_permissions(roles.OPERATOR)
    assert {
        "members.change_member",
        "members.add_user",
        "members.change_tag",
        "community.change_apitoken",
        "community.view_auditlog",
        "django_celery_beat.change_periodictask",
        "account.change_emailaddress",
    } <= operator
    assert not any(p.startswith(("auth.", "sessions.", "sites.")) for p in operator)

    moderator = group_permissions(roles.MODERATOR)
    assert {
        "members.view_member",
        "members.view_user",
        "members.view_tag",
        "community.view_activity",
        "community.view_auditlog",
    } <= moderator
    assert all(p.split(".")[1].startswith("view_") or p.startswith("feedback.") for p in moderator)
    assert "community.view_apitoken" not in moderator

    analyst = group_permissions(roles.ANALYST)
    assert {"members.view_member", "community.view_activity", "community.view_notification"} <= analyst
    assert all(p.split(".")[1].startswith("view_") for p in analyst)
    assert not any(p.startswith(("django_celery_beat.", "account.")) for p in analyst)


def test_roles_sync_resets_hand_made_changes():
    roles.roles_sync()
    analyst = Group.objects.get(name=roles.ANALYST)
    analyst.permissions.add(Permission.objects.get(codename="delete_member"))

    roles.roles_sync()

    assert "members.delete_member" not in group_permissions(roles.ANALYST)
    assert Group.objects.filter(name=roles.ANALYST).count() == 1


def test_role_membership_grants_the_permissions(operator, moderator, analyst):
    assert operator.user.has_perm("community.change_apitoken")
    assert not moderator.user.has_perm("community.change_apitoken")
    assert moderator.user.has_perm("members.view_member")
    assert not analyst.user.has_perm("members.change_member")
    assert roles.is_operator(operator.user) and not roles.is_operator(moderator.user)


def test_migrating_creates_the_staff_groups():
    # No roles_sync() here: the test database was just migrated.
    assert set(Group.objects.filter(name__in=roles.ROLES).values_list("name", flat=True)) == set(roles.ROLES)
