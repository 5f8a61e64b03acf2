"""POST /api/v1/events/: product usage events in, single and batch, idempotent, partially accepted."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from community.models import Activity, AuditLog
from integrations.services import events as event_services
from integrations.services.identities import external_identity_link
from tests.factories import MemberFactory
from tests.integrations.conftest import token_client

EVENTS = "/api/v1/events/"


def event(event_id: str, email: str | None = None, **extra: object) -> dict:
    row = {"id": event_id, "name": "report_exported", "occurred_at": "2026-03-01T09:30:00Z", **extra}
    if email is not None:
        row["email"] = email
    return row


@pytest.fixture
def pusher(operator):
    return token_client(operator.user, scopes=["events:write"])


def test_a_single_event_is_recorded_once(pusher, member):
    body = event("evt-1", member.user.email, properties={"format": "pdf"})

    first = pusher.post(EVENTS, body, format="json")
    again = pusher.post(EVENTS, body, format="json")

    assert first.status_code == 201, first.content
    assert first.json() == {"index": 0, "id": "evt-1", "status": "recorded"}
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    activity = Activity.objects.get(dedupe_key="product:evt-1")
    assert activity.member == member
    assert activity.verb == "product.report_exported"
    assert activity.data == {
        "event_id": "evt-1",
        "name": "report_exported",
        "source": "product",
        "properties": {"format": "pdf"},
    }
    assert activity.occurred_at.isoformat() == "2026-03-01T09:30:00+00:00"


def test_a_rejected_single_event_is_a_400(pusher):
    response = pusher.post(EVENTS, event("evt-1", "nobody@example.com"), format="json")

    assert response.status_code == 400
    assert "email" in response.json()
    assert not Activity.objects.exists()


def test_a_batch_keeps_good_rows_and_reports_bad_ones(pusher, member, other_member):
    external_identity_link(actor=None, member=other_member, provider="product", external_id="u_7")
    rows = [
        event("a", member.user.email.upper()),  # e-mail matched case-insensitively
        event("b", external_id="u_7"),
        event("c", "nobody@example.com"),
        event("d", external_id="u_unknown"),
        {"id": "e", "name": "Bad Name!", "occurred_at": "yesterday", "email": member.user.email},
        event("f"),  # nobody named
        event("g", member.user.email, occurred_at="2026-03-01T09:30:00"),  # naive
        "not an object",
        event("a", member.user.email),  # the same id again in the batch
        event("h", member.user.email, properties=["not", "an", "object"]),
    ]

    response = pusher.post(EVENTS, {"events": rows}, format="json")

    assert response.status_code == 207, response.content
    body = response.json()
    assert (body["recorded"], body["duplicates"], body["rejected"]) == (2, 1, 7)
    statuses = [(row["index"], row["status"]) for row in body["results"]]
    assert statuses == [
        (0, "recorded"),
        (1, "recorded"),
        (2, "rejected"),
        (3, "rejected"),
        (4, "rejected"),
        (5, "rejected"),
        (6, "rejected"),
        (7, "rejected"),
        (8, "duplicate"),
        (9, "rejected"),
    ]
    results = body["results"]
    assert "email" in results[2]["errors"]
    assert "external_id" in results[3]["errors"]
    assert set(results[4]["errors"]) == {"name", "occurred_at"}
    assert "member" in results[5]["errors"]
    assert "occurred_at" in results[6]["errors"]
    assert "properties" in results[9]["errors"]
    assert Activity.objects.get(dedupe_key="product:a").member == member
    assert Activity.objects.get(dedupe_key="product:b").member == other_member
    assert Activity.objects.filter(verb__startswith="product.").count() == 2
    assert AuditLog.objects.filter(action="product_events.record").count() == 1


def test_an_all_good_batch_is_a_200(pusher, member):
    response = pusher.post(EVENTS, {"events": [event(str(i), member.user.email) for i in range(5)]}, format="json")

    assert response.status_code == 200
    assert response.json()["recorded"] == 5


@pytest.mark.parametrize(
    "body",
    [{"events": []}, {"events": "nope"}, "just a string", {"events": [{"id": str(i)} for i in range(1001)]}],
)
def test_an_unusable_request_is_a_400_and_records_nothing(pusher, body):
    response = pusher.post(EVENTS, body, format="json")

    assert response.status_code == 400
    assert "events" in response.json()
    assert not Activity.objects.exists()


def test_the_query_count_does_not_grow_with_the_batch(pusher, django_assert_max_num_queries):
    members = MemberFactory.create_batch(20)
    for index, member in enumerate(members[:10]):
        external_identity_link(actor=None, member=member, provider="product", external_id=f"u{index}")

    def batch(prefix: str, size: int) -> list[dict]:
        return [
            event(f"{prefix}{i}", members[i % 20].user.email)
            if i % 2
            else event(f"{prefix}{i}", external_id=f"u{i % 10}")
            for i in range(size)
        ]

    pusher.post(EVENTS, {"events": batch("warm", 10)}, format="json")  # caches (rules, content types) warm
    with django_assert_max_num_queries(20) as small:
        assert pusher.post(EVENTS, {"events": batch("s", 10)}, format="json").status_code == 200
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        assert pusher.post(EVENTS, {"events": batch("l", 1000)}, format="json").status_code == 200
    assert Activity.objects.filter(dedupe_key__startswith="product:l").count() == 1000
    assert len(large.captured_queries) == len(small.captured_queries)


def test_events_feed_point_rules(pusher, member, operator):
    from rewards.models import PointBalance
    from rewards.services.rules import point_rule_create

    point_rule_create(actor=operator.user, name="Exported a report", verb="product.report_exported", points=4)

    response = pusher.post(
        EVENTS, {"events": [event("p1", member.user.email), event("p2", member.user.email)]}, format="json"
    )

    assert response.status_code == 200
    assert PointBalance.objects.get(member=member).lifetime == 8


def test_permissions(api_member, api_operator, member, operator, api_anon):
    body = event("x", member.user.email)
    assert api_anon.post(EVENTS, body, format="json").status_code in (401, 403)
    assert api_member.post(EVENTS, body, format="json").status_code == 403
    assert token_client(operator.user, scopes=["members:read"]).post(EVENTS, body, format="json").status_code == 403
    assert api_operator.post(EVENTS, body, format="json").status_code == 201


def test_a_resent_batch_is_all_duplicates_and_changes_nothing(pusher, member):
    body = {"events": [event(f"r{i}", member.user.email) for i in range(3)]}
    assert pusher.post(EVENTS, body, format="json").json()["recorded"] == 3
    activity_ids = sorted(Activity.objects.values_list("pk", flat=True))

    again = pusher.post(EVENTS, body, format="json")

    assert again.status_code == 200
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 3)
    assert sorted(Activity.objects.values_list("pk", flat=True)) == activity_ids
    assert AuditLog.objects.filter(action="product_events.record").count() == 1
    # A re-sent row takes no id: the next new event gets the next one.
    assert pusher.post(EVENTS, event("r-new", member.user.email), format="json").status_code == 201
    assert Activity.objects.get(dedupe_key="product:r-new").pk == activity_ids[-1] + 1


def test_the_external_id_wins_over_the_email(pusher, member, other_member):
    external_identity_link(actor=None, member=other_member, provider="product", external_id="u_9")

    response = pusher.post(EVENTS, event("x1", member.user.email, external_id="u_9"), format="json")
    unknown = pusher.post(EVENTS, event("x2", member.user.email, external_id="u_none"), format="json")

    assert response.status_code == 201
    assert Activity.objects.get(dedupe_key="product:x1").member == other_member
    assert unknown.status_code == 400
    assert "external_id" in unknown.json()


@pytest.mark.parametrize(
    ("properties", "accepted"),
    [
        ({"note": "x" * 8000}, True),
        ({"note": "x" * 8200}, False),
        ({"note": "\u4e2d" * 1300}, True),  # escaped as \uXXXX: 7,812 characters of JSON
        ({"note": "\u4e2d" * 1400}, False),  # 8,412
        ({f"k{i}": i for i in range(620)}, True),
        ({f"k{i}": i for i in range(650)}, False),
        ({"nested": {"list": ["y" * 100] * 90}}, False),
        ({"nested": {"list": ["y" * 100] * 70}}, True),
    ],
)
def test_properties_are_limited_to_8_kb_of_json(pusher, member, properties, accepted):
    response = pusher.post(EVENTS, event("big", member.user.email, properties=properties), format="json")

    assert response.status_code == (201 if accepted else 400), response.content
    if accepted:
        assert Activity.objects.get(dedupe_key="product:big").data["properties"] == properties
    else:
        assert "properties" in response.json()


def test_the_future_is_refused(pusher, member):
    later = (timezone.now() + timedelta(days=1)).isoformat()
    response = pusher.post(EVENTS, event("f1", member.user.email, occurred_at=later), format="json")
    assert response.status_code == 400
    assert "occurred_at" in response.json()


@pytest.mark.django_db(transaction=True)
def test_the_same_event_sent_twice_in_parallel_records_one_activity(operator, member):
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait()
            results = event_services.product_events_record(
                events=[event("race-1", member.user.email), event("race-2", member.user.email)], actor=operator.user
            )
            outcomes.extend(result.status for result in results)
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert Activity.objects.filter(dedupe_key="product:race-1").count() == 1
    assert Activity.objects.filter(dedupe_key="product:race-2").count() == 1
    assert set(outcomes) <= {"recorded", "duplicate"}
    if connection.vendor == "postgresql":
        # The insert itself tells the winner from the losers: each id is reported recorded exactly once.
        assert outcomes.count("recorded") == 2
        assert outcomes.count("duplicate") == 6
