"""Demo data for integrations: product user ids and chat handles for some members, and a sample webhook
subscription (switched off, so a demo never posts anywhere until an operator points it at a receiver)."""

from __future__ import annotations

import random

from integrations.models import ExternalIdentity, WebhookSubscription
from integrations.services.identities import external_identity_link
from integrations.services.webhooks import webhook_subscription_create
from members.models import Member

SAMPLE_URL = "http://127.0.0.1:8765/"


def seed(*, rng: random.Random, members: list[Member]) -> str:
    linked = 0
    for member in members:
        if ExternalIdentity.objects.filter(member=member, provider="product").exists():
            continue
        # Most members use the product; a few also sit in the program's chat group.
        if rng.random() < 0.8:
            external_identity_link(actor=None, member=member, provider="product", external_id=f"u_{10000 + member.pk}")
            linked += 1
        if rng.random() < 0.3:
            external_identity_link(
                actor=None,
                member=member,
                provider="wechat_group",
                external_id=f"wxid_{member.pk:08d}",
                handle=member.display_name,
            )
            linked += 1
    subscriptions = 0
    if not WebhookSubscription.objects.filter(url=SAMPLE_URL).exists():
        webhook_subscription_create(
            actor=None,
            name="Local test receiver (examples/webhook_receiver.py)",
            url=SAMPLE_URL,
            event_types=["*"],
            is_active=False,
            allow_private_network=True,
        )
        subscriptions = 1
    return f"integrations: {linked} external identities, {subscriptions} sample webhook subscription (switched off)"
