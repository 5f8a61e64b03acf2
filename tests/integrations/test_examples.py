"""The worked examples in examples/ do what the docs say: push events to a live server; receive and verify webhooks."""

from __future__ import annotations

import importlib.util
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from community import services
from community.models import Activity
from integrations.models import WebhookDelivery
from integrations.services import webhooks
from tests.factories import MemberFactory

ROOT = Path(__file__).resolve().parents[2]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_push_usage_events_records_each_event_once(live_server, operator):
    pusher = load("push_usage_events")
    members = MemberFactory.create_batch(3)
    _token, raw_key = services.api_token_create(user=operator.user, name="product", scopes=["events:write"])
    emails = [m.user.email for m in members] + ["stranger@example.com"]
    events = list(pusher.synthetic_events(emails, 1200, run="test"))

    totals = {"recorded": 0, "duplicates": 0, "rejected": 0}
    for batch in pusher.batches(events):
        result = pusher.post_batch(live_server.url, raw_key, batch)
        for key in totals:
            totals[key] += result[key]

    assert totals == {"recorded": 900, "duplicates": 0, "rejected": 300}  # every fourth names nobody
    assert Activity.objects.filter(verb__startswith="product.").count() == 900
    # Running it again records nothing twice.
    again = pusher.post_batch(live_server.url, raw_key, events[:1000])
    assert again["recorded"] == 0 and again["duplicates"] == 750


@pytest.mark.django_db
def test_the_example_receiver_accepts_signed_deliveries_and_refuses_others(django_capture_on_commit_callbacks):
    receiver_module = load("webhook_receiver")
    subscription_secret = "whsec_example"
    receiver_module.Receiver.secret = subscription_secret
    receiver_module.Receiver.fail_remaining = 1  # one simulated outage first
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver_module.Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        subscription = webhooks.webhook_subscription_create(
            actor=None, name="example", url=url, event_types=["*"], allow_private_network=True
        )
        subscription.secret = subscription_secret
        subscription.save(update_fields=["secret"])
        with django_capture_on_commit_callbacks(execute=True):
            event = webhooks.webhook_event_publish("member.left", {"member_id": 1})
        delivery = WebhookDelivery.objects.get(event=event)
        assert delivery.last_status_code == 500  # the simulated outage
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        with django_capture_on_commit_callbacks(execute=True):
            assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) == "succeeded"

        # A delivery signed with another secret is refused.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status="pending")
        subscription.secret = "whsec_other"
        subscription.save(update_fields=["secret"])
        with django_capture_on_commit_callbacks(execute=True):
            assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
        delivery.refresh_from_db()
        assert delivery.last_status_code == 400
    finally:
        server.shutdown()
        server.server_close()
