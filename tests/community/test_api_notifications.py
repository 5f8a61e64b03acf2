"""The notification inbox and notification preferences over the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from community import notification_kinds
from community.models import Notification, NotificationPreference
from members.models import User
from tests.factories import NotificationFactory, UserFactory

NOTIFICATIONS = "/api/v1/notifications/"
MARK_READ = "/api/v1/notifications/mark-read/"
UNREAD = "/api/v1/notifications/unread-count/"
PREFERENCES = "/api/v1/notification-preferences/"
# member profile lookup + count + page; the same however long the inbox is.
NOTIFICATION_LIST_QUERIES = 3


def fresh_client(user: User) -> APIClient:
    """A client signed in as a freshly loaded user, so nothing cached on an earlier request's user is reused."""
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=user.pk))
    return client


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def inboxes(operator, member, other_member) -> dict[str, list[Notification]]:
    """Two unread and one read notification each, plus an email-only one that never shows in the inbox."""
    boxes = {}
    for key, person in (("operator", operator), ("member", member), ("other", other_member)):
        rows = NotificationFactory.create_batch(2, member=person)
        rows.append(NotificationFactory(member=person, read_at=timezone.now()))
        NotificationFactory(member=person, show_in_portal=False)
        boxes[key] = rows
    return boxes


# --- anonymous and accounts without a profile -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", NOTIFICATIONS),
        ("get", f"{NOTIFICATIONS}1/"),
        ("get", UNREAD),
        ("post", MARK_READ),
        ("get", PREFERENCES),
        ("put", f"{PREFERENCES}welcome/"),
        ("put", f"{PREFERENCES}no-such-kind/"),
    ],
)
def test_anonymous_is_401_with_a_bearer_challenge(api_anon, method, path):
    response = getattr(api_anon, method)(path, {"in_portal": True, "email": True}, format="json")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", NOTIFICATIONS),
        ("get", UNREAD),
        ("post", MARK_READ),
        ("get", PREFERENCES),
        ("put", f"{PREFERENCES}welcome/"),
    ],
)
def test_an_account_without_a_member_profile_is_403(db, method, path):
    client = APIClient()
    client.force_authenticate(UserFactory())

    response = getattr(client, method)(path, {"in_portal": True, "email": True}, format="json")

    assert response.status_code == 403


# --- list and retrieve ------------------------------------------------------------------------------------


def test_each_persona_lists_only_their_own_inbox(api_operator, api_member, api_other, inboxes):
    for key, client in (("operator", api_operator), ("member", api_member), ("other", api_other)):
        response = client.get(NOTIFICATIONS)
        assert response.status_code == 200
        assert sorted(ids(response)) == sorted(n.pk for n in inboxes[key])


def test_list_is_newest_first_and_says_whether_each_is_read(api_member, member):
    older = NotificationFactory(member=member, created_at=timezone.now() - timedelta(days=1))
    newer = NotificationFactory(member=member, read_at=timezone.now())

    rows = api_member.get(NOTIFICATIONS).json()["results"]

    assert [row["id"] for row in rows] == [newer.pk, older.pk]
    assert [row["is_read"] for row in rows] == [True, False]
    assert set(rows[0]) == {"id", "kind", "title", "body", "url", "created_at", "read_at", "is_read"}


def test_list_filters_by_kind_and_read_state(api_member, member, inboxes):
    welcome = NotificationFactory(member=member, kind="welcome")
    unread = [n.pk for n in inboxes["member"] if n.read_at is None] + [welcome.pk]

    assert ids(api_member.get(NOTIFICATIONS, {"kind": "welcome"})) == [welcome.pk]
    assert sorted(ids(api_member.get(NOTIFICATIONS, {"read_at__isnull": "true"}))) == sorted(unread)
    assert ids(api_member.get(NOTIFICATIONS, {"read_at__isnull": "false"})) == [inboxes["member"][2].pk]


def test_a_page_past_the_end_is_404(api_member, inboxes):
    assert api_member.get(NOTIFICATIONS, {"page": 99}).status_code == 404


@pytest.mark.parametrize("size", [3, 30])
def test_list_query_count_does_not_grow_with_the_inbox(member, django_assert_num_queries, size):
    NotificationFactory.create_batch(size, member=member)
    client = fresh_client(member.user)

    with django_assert_num_queries(NOTIFICATION_LIST_QUERIES):
        response = client.get(NOTIFICATIONS)

    assert response.status_code == 200
    assert len(response.json()["results"]) == size


def test_retrieve_own_notification(api_member, inboxes):
    mine = inboxes["member"][0]

    response = api_member.get(f"{NOTIFICATIONS}{mine.pk}/")

    assert response.status_code == 200
    assert response.json()["title"] == mine.title


@pytest.mark.parametrize("who", ["api_other", "api_operator"])
def test_nobody_else_can_read_a_members_notification(request, inboxes, who):
    mine = inboxes["member"][0]

    response = request.getfixturevalue(who).get(f"{NOTIFICATIONS}{mine.pk}/")

    assert response.status_code == 404
    assert mine.title not in response.content.decode()


def test_an_email_only_notification_is_not_in_the_inbox(api_member, member):
    hidden = NotificationFactory(member=member, show_in_portal=False)

    assert api_member.get(f"{NOTIFICATIONS}{hidden.pk}/").status_code == 404


@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999999"])
def test_retrieve_unknown_or_malformed_id_is_404(api_member, pk):
    assert api_member.get(f"{NOTIFICATIONS}{pk}/").status_code == 404


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_inbox_is_read_only(api_member, inboxes, method):
    mine = inboxes["member"][0]
    path = NOTIFICATIONS if method == "post" else f"{NOTIFICATIONS}{mine.pk}/"

    response = getattr(api_member, method)(path, {"title": "changed"}, format="json")

    assert response.status_code == 405
    mine.refresh_from_db()
    assert mine.title != "changed"


# --- unread count -----------------------------------------------------------------------------------------


def test_unread_count_counts_only_own_unread_inbox_entries(api_operator, api_member, api_other, member, inboxes):
    NotificationFactory(member=member)

    assert api_member.get(UNREAD).json() == {"unread": 3}
    assert api_other.get(UNREAD).json() == {"unread": 2}
    assert api_operator.get(UNREAD).json() == {"unread": 2}


# --- mark read --------------------------------------------------------------------------------------------


def test_mark_read_by_ids(api_member, member, inboxes):
    first, second, _read = inboxes["member"]

    response = api_member.post(MARK_READ, {"ids": [first.pk]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"marked": 1}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None
    assert second.read_at is None


def test_mark_read_without_ids_marks_all_of_mine_and_nobody_elses(api_member, member, other_member, inboxes):
    response = api_member.post(MARK_READ, {}, format="json")

    # two unread in the inbox plus the email-only one
    assert response.json() == {"marked": 3}
    assert not Notification.objects.filter(member=member, read_at__isnull=True).exists()
    assert Notification.objects.filter(member=other_member, read_at__isnull=True).count() == 3
    assert api_member.get(UNREAD).json() == {"unread": 0}


def test_mark_read_with_an_empty_list_marks_nothing(api_member, member, inboxes):
    response = api_member.post(MARK_READ, {"ids": []}, format="json")

    assert response.json() == {"marked": 0}
    assert Notification.objects.filter(member=member, read_at__isnull=True).count() == 3


PERSONAS = {"operator": "api_operator", "member": "api_member", "other": "api_other"}


@pytest.mark.parametrize(("who", "whose"), [(a, b) for a in PERSONAS for b in PERSONAS if a != b])
def test_mark_read_with_someone_elses_ids_marks_nothing(request, inboxes, who, whose):
    theirs = [n.pk for n in inboxes[whose]]

    response = request.getfixturevalue(PERSONAS[who]).post(MARK_READ, {"ids": theirs}, format="json")

    assert response.status_code == 200
    assert response.json() == {"marked": 0}
    assert Notification.objects.filter(pk__in=theirs, read_at__isnull=True).count() == 2


def test_mark_read_with_mixed_ids_marks_only_mine(api_member, inboxes):
    mine = inboxes["member"][0]
    theirs = inboxes["other"][0]

    response = api_member.post(MARK_READ, {"ids": [mine.pk, theirs.pk]}, format="json")

    assert response.json() == {"marked": 1}
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_marking_an_already_read_notification_does_not_move_its_read_time(api_member, inboxes):
    already = inboxes["member"][2]
    read_at = already.read_at

    assert api_member.post(MARK_READ, {"ids": [already.pk]}, format="json").json() == {"marked": 0}
    already.refresh_from_db()
    assert already.read_at == read_at


@pytest.mark.parametrize(
    "payload",
    [
        {"ids": "1"},
        {"ids": 1},
        {"ids": None},
        {"ids": ["one"]},
        {"ids": [0]},
        {"ids": [-3]},
        {"ids": [1.5]},
        {"ids": [True]},
        {"ids": [[1]]},
        {"ids": [{"id": 1}]},
        {"ids": list(range(1, 502))},
        {"ids": [2**63]},
        {"ids": [10**30]},
    ],
)
def test_mark_read_rejects_bad_ids(api_member, member, inboxes, payload):
    response = api_member.post(MARK_READ, payload, format="json")

    assert response.status_code == 400, response.content
    assert "ids" in response.json()
    assert Notification.objects.filter(member=member, read_at__isnull=True).count() == 3


@pytest.mark.parametrize("body", ["[1, 2]", '"all"', "null", '{"ids": [1', "ids=1"])
def test_mark_read_rejects_a_body_that_is_not_a_json_object(api_member, member, inboxes, body):
    response = api_member.generic("POST", MARK_READ, body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert Notification.objects.filter(member=member, read_at__isnull=True).count() == 3


# --- preferences ------------------------------------------------------------------------------------------


def test_preferences_list_every_kind_with_its_defaults(api_member):
    response = api_member.get(PREFERENCES)

    assert response.status_code == 200
    rows = {row["kind"]: row for row in response.json()}
    assert set(rows) == set(notification_kinds.KINDS)
    for key, kind in notification_kinds.KINDS.items():
        assert rows[key] == {
            "kind": key,
            "label": str(kind.label),
            "in_portal": kind.in_portal_default,
            "email": kind.email_default,
        }


@pytest.mark.parametrize("who", list(PERSONAS))
def test_each_persona_sets_only_their_own_preference(request, operator, member, other_member, who):
    people = {"operator": operator, "member": member, "other": other_member}
    client = request.getfixturevalue(PERSONAS[who])

    response = client.put(f"{PREFERENCES}operator_message/", {"in_portal": True, "email": False}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["kind"] == "operator_message"
    assert response.json()["email"] is False
    assert NotificationPreference.objects.get(member=people[who], kind="operator_message").email is False
    assert NotificationPreference.objects.count() == 1
    for key, name in PERSONAS.items():
        rows = {row["kind"]: row for row in request.getfixturevalue(name).get(PREFERENCES).json()}
        assert rows["operator_message"]["email"] is (key != who)


def test_setting_a_preference_twice_updates_it(api_member, member):
    path = f"{PREFERENCES}welcome/"
    api_member.put(path, {"in_portal": False, "email": False}, format="json")

    response = api_member.put(path, {"in_portal": True, "email": False}, format="json")

    assert response.json()["in_portal"] is True
    assert NotificationPreference.objects.filter(member=member, kind="welcome").count() == 1


def test_read_only_fields_in_a_preference_body_are_ignored(api_member, member):
    response = api_member.put(
        f"{PREFERENCES}welcome/", {"in_portal": True, "email": False, "kind": "operator_message"}, format="json"
    )

    assert response.json()["kind"] == "welcome"
    assert list(NotificationPreference.objects.filter(member=member).values_list("kind", flat=True)) == ["welcome"]


@pytest.mark.parametrize("kind", ["no-such-kind", "WELCOME", "k" * 300, "welcome%20"])
def test_an_unknown_kind_is_404(api_member, member, kind):
    response = api_member.put(f"{PREFERENCES}{kind}/", {"in_portal": True, "email": True}, format="json")

    assert response.status_code == 404
    assert not NotificationPreference.objects.filter(member=member).exists()


def test_an_unknown_kind_is_404_even_with_a_bad_body(api_member):
    assert api_member.put(f"{PREFERENCES}no-such-kind/", {"email": "perhaps"}, format="json").status_code == 404


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"in_portal", "email"}),
        ({"in_portal": True}, {"email"}),
        ({"email": False}, {"in_portal"}),
        ({"in_portal": "perhaps", "email": True}, {"in_portal"}),
        ({"in_portal": True, "email": 7}, {"email"}),
        ({"in_portal": None, "email": True}, {"in_portal"}),
        ({"in_portal": [True], "email": {"on": True}}, {"in_portal", "email"}),
    ],
)
def test_a_bad_preference_body_is_400_with_field_messages(api_member, member, payload, fields):
    response = api_member.put(f"{PREFERENCES}welcome/", payload, format="json")

    assert response.status_code == 400
    assert set(response.json()) == fields
    assert not NotificationPreference.objects.filter(member=member).exists()


@pytest.mark.parametrize("body", ["[]", "true", '{"in_portal": true', "in_portal=1"])
def test_a_preference_body_that_is_not_a_json_object_is_400(api_member, member, body):
    response = api_member.generic("PUT", f"{PREFERENCES}welcome/", body, content_type="application/json")

    assert response.status_code == 400
    assert not NotificationPreference.objects.filter(member=member).exists()


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_preferences_take_only_put(api_member, method):
    response = getattr(api_member, method)(f"{PREFERENCES}welcome/", {"in_portal": True, "email": True}, format="json")

    assert response.status_code == 405
