"""Webhooks out: signed deliveries to a real local receiver, retries, timeouts, redirects, SSRF, switch-off."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from community.models import AuditLog, Notification
from integrations import signing
from integrations.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from integrations.services import webhooks

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def documented_verify():
    """The verification snippet exactly as docs/integrations.md shows it."""
    text = (ROOT / "docs" / "integrations.md").read_text()
    code = re.search(r"<!-- verify-snippet -->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/integrations.md", "exec"), namespace)  # noqa: S102 (our own documentation)
    return namespace["verify_signature"]


def example_receiver():
    import importlib.util

    spec = importlib.util.spec_from_file_location("webhook_receiver", ROOT / "examples" / "webhook_receiver.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def subscribe(receiver, *, event_types=("points.awarded",), **extra) -> WebhookSubscription:
    return webhooks.webhook_subscription_create(
        actor=None,
        name="receiver",
        url=receiver.url,
        event_types=list(event_types),
        allow_private_network=extra.pop("allow_private_network", True),
        **extra,
    )


def publish(django_capture_on_commit_callbacks, event_type="points.awarded", data=None):
    with django_capture_on_commit_callbacks(execute=True):
        return webhooks.webhook_event_publish(event_type, data or {"member_id": 1, "points": 5})


def later(minutes: int = 600):
    return timezone.now() + timedelta(minutes=minutes)


def test_a_signed_delivery_reaches_the_receiver_and_the_documented_snippet_verifies_it(
    receiver, django_capture_on_commit_callbacks
):
    subscription = subscribe(receiver)

    event = publish(django_capture_on_commit_callbacks, data={"member_id": 42, "points": 10})

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hooks/hearth"
    payload = json.loads(request.body)
    assert set(payload) == {"id", "type", "version", "created_at", "data"}
    assert payload["id"] == str(event.uuid) == request.headers["Hearth-Event-Id"]
    assert payload["type"] == "points.awarded" == request.headers["Hearth-Event-Type"]
    assert payload["version"] == 1
    assert payload["data"] == {"member_id": 42, "points": 10}
    header = request.headers["Hearth-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    verify = documented_verify()
    assert verify(subscription.secret, request.body, header)
    assert not verify("whsec_wrong", request.body, header)
    assert not verify(subscription.secret, request.body + b" ", header)
    # The example receiver's copy agrees, and so does the server's own check.
    assert example_receiver().verify_signature(subscription.secret, request.body, header)
    assert signing.verify(secret=subscription.secret, body=request.body, header=header)
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempts == 1 and delivery.last_status_code == 200


def test_an_old_signature_is_refused_as_a_replay():
    body = b'{"id":"x"}'
    stale = signing.sign(secret="s", body=body, timestamp=int(time.time()) - 301)
    fresh = signing.sign(secret="s", body=body, timestamp=int(time.time()))

    assert not documented_verify()("s", body, stale)
    assert documented_verify()("s", body, fresh)
    assert not signing.verify(secret="s", body=body, header=stale)


def test_nobody_subscribed_means_nothing_is_stored(receiver, django_capture_on_commit_callbacks):
    subscribe(receiver, event_types=["badge.awarded"])

    assert publish(django_capture_on_commit_callbacks) is None
    assert not WebhookEvent.objects.exists()
    assert receiver.requests == []


def test_a_receiver_that_answers_500_is_retried_with_back_off_and_nothing_is_lost(
    receiver, django_capture_on_commit_callbacks
):
    subscribe(receiver)
    receiver.script = ["500", "500"]

    event = publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(event=event)

    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    first_delay = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=25) < first_delay < timedelta(seconds=35)
    # Not due yet: a task that arrives early does nothing.
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) == "skipped"

    with django_capture_on_commit_callbacks(execute=False):
        assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk, now=later()) == "retrying"
    delivery.refresh_from_db()
    second_delay = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=50) < second_delay < timedelta(seconds=70)
    with django_capture_on_commit_callbacks(execute=False):
        assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk, now=later()) == "succeeded"

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED and delivery.attempts == 3
    assert len(receiver.requests) == 3
    assert {r.headers["Hearth-Event-Id"] for r in receiver.requests} == {str(event.uuid)}
    assert [r.headers["Hearth-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r.body for r in receiver.requests}) == 1


def test_a_hanging_receiver_times_out_instead_of_blocking_the_worker(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.HEARTH_WEBHOOK_CONNECT_TIMEOUT = 1.0
    settings.HEARTH_WEBHOOK_READ_TIMEOUT = 0.5
    subscribe(receiver)
    receiver.script = ["hang"]
    receiver.hang_seconds = 3

    started = time.monotonic()
    event = publish(django_capture_on_commit_callbacks)
    elapsed = time.monotonic() - started

    assert elapsed < 2.5
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.last_error.startswith("timeout")
    assert delivery.last_status_code is None


def test_redirects_are_not_followed(receiver, django_capture_on_commit_callbacks):
    subscribe(receiver)
    receiver.script = ["redirect"]

    event = publish(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get(event=event)
    assert [r.path for r in receiver.requests] == ["/hooks/hearth"]
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.last_status_code == 302
    assert "redirect" in delivery.last_error


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/x", "http://localhost:{port}/x", "http://[::1]:{port}/x"])
def test_internal_addresses_are_refused_unless_an_operator_allows_them(
    receiver, url, django_capture_on_commit_callbacks
):
    port = receiver.url.split(":")[2].split("/")[0]
    webhooks.webhook_subscription_create(
        actor=None, name="sneaky", url=url.format(port=port), event_types=["*"], allow_private_network=False
    )

    event = publish(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get(event=event)
    assert receiver.requests == []
    assert delivery.last_error.startswith("refused")


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "0.0.0.0", "::ffff:127.0.0.1", "fc00::1"],  # noqa: S104
)
def test_private_link_local_and_reserved_addresses_are_not_public(address):
    import ipaddress

    from integrations.http import _is_public

    assert not _is_public(ipaddress.ip_address(address))
    assert _is_public(ipaddress.ip_address("93.184.216.34"))


def test_repeated_failures_switch_the_subscription_off_and_tell_operators(
    receiver, settings, operator, django_capture_on_commit_callbacks
):
    settings.HEARTH_WEBHOOK_DISABLE_AFTER = 3
    subscription = subscribe(receiver)
    receiver.script = ["500"] * 3

    for _ in range(3):
        publish(django_capture_on_commit_callbacks)

    subscription.refresh_from_db()
    assert not subscription.is_active
    assert subscription.disabled_at is not None and "HTTP 500" in subscription.disabled_reason
    notice = Notification.objects.get(member=operator, kind="webhook_disabled")
    assert "receiver" in notice.title
    assert AuditLog.objects.filter(action="webhook_subscription.disable").exists()
    # Further events wait for the subscription instead of being attempted or dropped.
    webhooks.subscriptions_cache_forget()
    assert publish(django_capture_on_commit_callbacks) is None
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    assert pending.count() == 3
    assert webhooks.webhook_delivery_attempt(delivery_id=pending.first().pk, now=later()) == "skipped"

    # Switching it back on sends what waited (the receiver has recovered).
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhook_subscription_update(actor=operator.user, subscription=subscription, is_active=True)

    assert WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SUCCEEDED).count() == 3
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.consecutive_failures == 0


def test_attempts_run_out(receiver, settings, django_capture_on_commit_callbacks):
    settings.HEARTH_WEBHOOK_MAX_ATTEMPTS = 2
    subscribe(receiver)
    receiver.script = ["500", "500"]
    event = publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(event=event)

    with django_capture_on_commit_callbacks(execute=False):
        assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk, now=later()) == "failed"

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    # An operator can still send it again.
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhook_delivery_redeliver(actor=None, delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED


def test_the_sweep_picks_up_deliveries_whose_task_was_lost(receiver, django_capture_on_commit_callbacks):
    subscription = subscribe(receiver)
    event = WebhookEvent.objects.create(type="points.awarded", data={})
    delivery = WebhookDelivery.objects.create(subscription=subscription, event=event)

    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhook_deliveries_enqueue_due() == 1

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED


def test_a_claimed_delivery_is_not_sent_twice(receiver):
    subscription = subscribe(receiver)
    event = WebhookEvent.objects.create(type="points.awarded", data={})
    delivery = WebhookDelivery.objects.create(
        subscription=subscription, event=event, locked_until=timezone.now() + timedelta(minutes=1)
    )

    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) == "skipped"
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_points_awarded_end_to_end_after_commit(receiver, member):
    """A real award commits, the listener queues the delivery on commit, the (eager) worker posts it."""
    from rewards.services.ledger import points_award

    subscription = subscribe(receiver)
    points_award(member=member, amount=7, reason="Welcome", idempotency_key="welcome:1")

    assert len(receiver.requests) == 1
    payload = json.loads(receiver.requests[0].body)
    assert payload["type"] == "points.awarded"
    assert payload["data"]["member_id"] == member.pk and payload["data"]["points"] == 7
    assert documented_verify()(
        subscription.secret, receiver.requests[0].body, receiver.requests[0].headers["Hearth-Signature"]
    )


def test_a_rolled_back_change_sends_nothing(receiver, member, django_capture_on_commit_callbacks):
    from django.db import transaction

    from rewards.services.ledger import points_award

    subscribe(receiver)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                points_award(member=member, amount=7, reason="x", idempotency_key="rb:1")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert receiver.requests == []


def test_bulk_awards_publish_one_event_per_award(receiver, django_capture_on_commit_callbacks):
    from rewards.services.ledger import BulkAward, points_award_bulk
    from tests.factories import MemberFactory

    members = MemberFactory.create_batch(3)
    subscribe(receiver)
    with django_capture_on_commit_callbacks(execute=True):
        points_award_bulk(
            awards=[
                BulkAward(member_id=m.pk, amount=3, idempotency_key=f"bulk:{m.pk}", reason="Meetup") for m in members
            ]
        )

    assert sorted(json.loads(r.body)["data"]["member_id"] for r in receiver.requests) == sorted(m.pk for m in members)


def test_a_failing_listener_never_fails_the_change(monkeypatch, member, django_capture_on_commit_callbacks, receiver):
    from rewards.services.ledger import points_award

    subscribe(receiver)

    def boom(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(WebhookEvent.objects, "create", boom)
    with django_capture_on_commit_callbacks(execute=True):
        result = points_award(member=member, amount=1, reason="x", idempotency_key="safe:1")
    assert result.created


def test_settings_have_sane_timeouts():
    assert 0 < settings.HEARTH_WEBHOOK_CONNECT_TIMEOUT <= 10
    assert 0 < settings.HEARTH_WEBHOOK_READ_TIMEOUT <= 30


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_post_the_same_delivery_at_once(receiver):
    import threading

    from django.db import connection

    subscription = subscribe(receiver)
    event = WebhookEvent.objects.create(type="points.awarded", data={})
    delivery = WebhookDelivery.objects.create(subscription=subscription, event=event)
    receiver.script = ["hang"]
    receiver.hang_seconds = 0.5
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def work() -> None:
        try:
            barrier.wait()
            outcomes.append(webhooks.webhook_delivery_attempt(delivery_id=delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["skipped", "skipped", "skipped", "succeeded"]
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.status == WebhookDelivery.Status.SUCCEEDED


def test_the_log_forgets_old_finished_events_but_never_pending_ones(receiver):
    subscription = subscribe(receiver)
    long_ago = timezone.now() - timedelta(days=40)
    done = WebhookEvent.objects.create(type="points.awarded", data={}, created_at=long_ago)
    WebhookDelivery.objects.create(subscription=subscription, event=done, status=WebhookDelivery.Status.SUCCEEDED)
    waiting = WebhookEvent.objects.create(type="points.awarded", data={}, created_at=long_ago)
    WebhookDelivery.objects.create(subscription=subscription, event=waiting)
    recent = WebhookEvent.objects.create(type="points.awarded", data={})
    WebhookDelivery.objects.create(subscription=subscription, event=recent, status=WebhookDelivery.Status.SUCCEEDED)

    webhooks.webhook_log_prune(keep_days=30)

    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {waiting.pk, recent.pk}
    assert WebhookDelivery.objects.count() == 2
