"""POST /api/v1/events/: what the activity hooks receive, set-based member loading, rows the database would refuse."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.db import connection
from django.db.models import signals
from django.test.utils import CaptureQueriesContext

from community import activity_hooks
from community.models import Activity
from integrations.services import events as event_services
from integrations.services.identities import external_identity_link
from tests.factories import MemberFactory
from tests.integrations.conftest import token_client

EVENTS = "/api/v1/events/"
FIELDS = [activity_field.attname for activity_field in Activity._meta.concrete_fields]


def event(event_id: str, **extra: object) -> dict:
    return {"id": event_id, "name": "report_exported", "occurred_at": "2026-03-01T09:30:00Z", **extra}


@pytest.fixture
def pusher(operator):
    return token_client(operator.user, scopes=["events:write"])


@pytest.fixture
def seen(monkeypatch) -> list[list[Activity]]:
    """Every list of activities the activity hooks are handed, in order."""
    calls: list[list[Activity]] = []
    monkeypatch.setattr(activity_hooks, "_HOOKS", [*activity_hooks._HOOKS, lambda activities: calls.append(activities)])
    return calls


def test_the_hooks_get_the_activities_as_stored(pusher, seen, member):
    west = MemberFactory(time_zone="America/Los_Angeles")
    external_identity_link(actor=None, member=west, provider="product", external_id="w1")
    rows = [
        event("h1", email=member.user.email, occurred_at="2026-03-01T10:00:00Z", properties={"n": 1.5}),
        event("h2", external_id="w1", occurred_at="2026-03-01T05:30:00+00:00"),  # 28 Feb, 21:30 in Los Angeles
        event("h3", email=member.user.email, occurred_at="2026-03-01T07:00:00+08:00", properties={"tags": ["a"]}),
    ]

    response = pusher.post(EVENTS, {"events": rows}, format="json")

    assert response.status_code == 200, response.content
    assert len(seen) == 1
    handed = seen[0]
    stored = {activity.pk: activity for activity in Activity.objects.filter(dedupe_key__startswith="product:h")}
    assert [activity.dedupe_key for activity in handed] == ["product:h3", "product:h2", "product:h1"]
    for activity in handed:
        assert {name: getattr(activity, name) for name in FIELDS} == {
            name: getattr(stored[activity.pk], name) for name in FIELDS
        }
        assert not activity._state.adding
        assert activity._state.db == "default"
    assert handed[1].local_date == date(2026, 2, 28)
    assert handed[0].member == member
    assert handed[1].member.display_name == west.display_name
    assert handed[1].member.pk == west.pk

    assert pusher.post(EVENTS, {"events": rows}, format="json").json()["duplicates"] == 3
    assert len(seen) == 1  # nothing new: the hooks are not called


def _loads_members(sql: str) -> bool:
    # Whole member rows (model instances), not the look-up of ids and time zones by e-mail.
    return (
        sql.startswith('SELECT "members_member"."id", "members_member"."user_id"') and '"members_member"."id" IN' in sql
    )


def test_members_are_loaded_once_per_batch_and_only_when_a_hook_reads_them(pusher, seen, operator):
    from rewards.models import PointBalance
    from rewards.services.rules import point_rule_create

    members = MemberFactory.create_batch(6)
    rows = [event(f"m{index}", email=member.user.email) for index, member in enumerate(members)]
    with CaptureQueriesContext(connection) as unread:
        assert pusher.post(EVENTS, {"events": rows[:3]}, format="json").status_code == 200
    member_loads = [query for query in unread.captured_queries if _loads_members(query["sql"])]
    assert member_loads == []  # no rule or badge for the verb: nobody reads the members

    point_rule_create(actor=operator.user, name="Exported a report", verb="product.report_exported", points=4)
    with CaptureQueriesContext(connection) as read:
        assert pusher.post(EVENTS, {"events": rows[3:]}, format="json").status_code == 200

    # The rules read the members of the new activities: all of them come in one query.
    member_loads = [query for query in read.captured_queries if _loads_members(query["sql"])]
    assert len(member_loads) == 1
    lifetime = dict(PointBalance.objects.values_list("member_id", "lifetime"))
    assert [lifetime.get(member.pk, 0) for member in members] == [0, 0, 0, 4, 4, 4]


def test_a_post_init_listener_still_sees_each_new_activity(pusher, seen, member):
    made: list[int] = []

    def listener(sender, instance, **kwargs):
        made.append(id(instance))

    signals.post_init.connect(listener, sender=Activity)
    try:
        response = pusher.post(EVENTS, {"events": [event(f"s{i}", email=member.user.email) for i in range(3)]})
    finally:
        signals.post_init.disconnect(listener, sender=Activity)

    assert response.status_code == 200
    assert {id(activity) for activity in seen[0]} <= set(made)
    assert [activity.member for activity in seen[0]] == [member] * 3


def test_rows_the_database_would_refuse_are_rejected_alone(pusher, member):
    external_identity_link(actor=None, member=member, provider="product", external_id="ok")
    rows = [
        event("good", email=member.user.email, properties={"mood": "\U0001f600", "deep": ["\U0001f600", "\\u0000"]}),
        event("nul\u0000id", email=member.user.email),
        event("nul-value", email=member.user.email, properties={"note": "a\u0000b"}),
        event("nul-nested", email=member.user.email, properties={"deep": {"note": "a\u0000b"}}),
        event("nul-key", email=member.user.email, properties={"k\u0000": 1}),
        event("nul-external", external_id="o\u0000k"),
        event("nul-email", email="a\u0000@example.com"),
        event("lone\ud800", email=member.user.email),
        event("lone-value", email=member.user.email, properties={"note": "a\udc00"}),
        event("lone-nested", email=member.user.email, properties={"deep": [{"k\ud83d": 1}]}),
    ]

    # Sent as a sender's JSON encoder writes it: lone surrogates as \\uXXXX escapes.
    response = pusher.generic("POST", EVENTS, json.dumps({"events": rows}), content_type="application/json")

    assert response.status_code == 207, response.content
    results = response.json()["results"]
    assert [row["status"] for row in results] == ["recorded"] + ["rejected"] * 9
    assert [sorted(row["errors"]) for row in results[1:]] == [
        ["id"],
        ["properties"],
        ["properties"],
        ["properties"],
        ["external_id"],
        ["email"],
        ["id"],
        ["properties"],
        ["properties"],
    ]
    stored = Activity.objects.get(verb__startswith="product.")
    assert stored.dedupe_key == "product:good"
    assert stored.data["properties"] == {"mood": "\U0001f600", "deep": ["\U0001f600", "\\u0000"]}


def test_non_finite_numbers_in_properties_are_rejected(member):
    results = event_services.product_events_record(
        events=[
            event("inf", email=member.user.email, properties={"x": float("inf")}),
            event("nan", email=member.user.email, properties={"deep": [float("nan")]}),
            event("fine", email=member.user.email, properties={"x": 2.5e10, "deep": [-0.5]}),
        ],
        actor=None,
    )

    assert [result.status for result in results] == ["rejected", "rejected", "recorded"]
    assert set(results[0].errors) == set(results[1].errors) == {"properties"}
    assert Activity.objects.get(dedupe_key="product:fine").data["properties"] == {"x": 2.5e10, "deep": [-0.5]}


def test_the_batch_result_counts_every_row_once(member):
    batch = event_services.product_events_ingest(
        events=[
            event("c1", email=member.user.email),
            event("c1", email=member.user.email),
            event("c2", email="nobody@example.com"),
            "not an object",
            event("c3", email=member.user.email),
        ],
        actor=None,
    )

    assert (batch.recorded, batch.duplicates, batch.rejected) == (2, 1, 2)
    assert [row["index"] for row in batch.results] == [0, 1, 2, 3, 4]
    assert [row["status"] for row in batch.results] == ["recorded", "duplicate", "rejected", "rejected", "recorded"]
