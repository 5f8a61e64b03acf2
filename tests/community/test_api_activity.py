"""The activity stream over the API: members see their own actions, operators see everyone's."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from rest_framework.test import APIClient

from community import services
from community.models import Activity, Notification
from members.models import Member, User
from tests.factories import ActivityFactory, MemberFactory, NotificationFactory, UserFactory

ACTIVITY = "/api/v1/activity/"
# member profile lookup + count + page (with each target's type joined in); the same however long the stream is.
MEMBER_LIST_QUERIES = 3
# group lookup for the operator role + count + page.
OPERATOR_LIST_QUERIES = 3


def fresh_client(user: User) -> APIClient:
    """A client signed in as a freshly loaded user, so nothing cached on an earlier request's user is reused."""
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=user.pk))
    return client


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def on(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def streams(operator, member, other_member) -> dict[str, list[Activity]]:
    result = {}
    for key, person in (("operator", operator), ("member", member), ("other", other_member)):
        result[key] = [
            services.record_activity(member=person, verb="checked_in", occurred_at=on(date(2025, 3, 1))),
            services.record_activity(member=person, verb="posted", occurred_at=on(date(2025, 3, 5))),
        ]
    return result


def test_anonymous_is_401_with_a_bearer_challenge(api_anon, streams):
    for path in (ACTIVITY, f"{ACTIVITY}{streams['member'][0].pk}/"):
        response = api_anon.get(path)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_member_sees_only_their_own_actions(api_member, api_other, streams):
    assert sorted(ids(api_member.get(ACTIVITY))) == sorted(a.pk for a in streams["member"])
    assert sorted(ids(api_other.get(ACTIVITY))) == sorted(a.pk for a in streams["other"])


def test_an_operator_sees_everyones_actions_newest_first(api_operator, streams):
    response = api_operator.get(ACTIVITY)

    assert response.status_code == 200
    everything = [a for stream in streams.values() for a in stream]
    expected = sorted(everything, key=lambda a: (a.occurred_at, a.pk), reverse=True)
    assert ids(response) == [a.pk for a in expected]


def test_an_account_without_a_member_profile_sees_nothing(streams):
    client = APIClient()
    client.force_authenticate(UserFactory())

    response = client.get(ACTIVITY)

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_an_activity_row_names_its_target(api_member, member):
    notification = NotificationFactory(member=member)
    activity = services.record_activity(member=member, verb="opened", target=notification, data={"via": "email"})

    row = api_member.get(f"{ACTIVITY}{activity.pk}/").json()

    assert row == {
        "id": activity.pk,
        "member": member.pk,
        "verb": "opened",
        "target_type": "notification",
        "target_id": str(notification.pk),
        "data": {"via": "email"},
        "occurred_at": row["occurred_at"],
        "local_date": activity.local_date.isoformat(),
    }
    assert api_member.get(ACTIVITY).json()["results"][0]["target_type"] == "notification"


def test_an_activity_without_a_target_has_a_null_target_type(api_member, streams):
    row = api_member.get(f"{ACTIVITY}{streams['member'][0].pk}/").json()

    assert row["target_type"] is None
    assert row["target_id"] == ""


def test_retrieve_own_and_operator_retrieves_anyones(api_member, api_operator, streams):
    mine = streams["member"][0]

    assert api_member.get(f"{ACTIVITY}{mine.pk}/").status_code == 200
    assert api_operator.get(f"{ACTIVITY}{mine.pk}/").json()["member"] == mine.member_id


def test_another_member_cannot_retrieve_my_activity(api_other, streams):
    mine = streams["member"][0]

    response = api_other.get(f"{ACTIVITY}{mine.pk}/")

    assert response.status_code == 404


@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999999"])
def test_retrieve_unknown_or_malformed_id_is_404(api_operator, pk):
    assert api_operator.get(f"{ACTIVITY}{pk}/").status_code == 404


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_stream_is_read_only_over_the_api(api_operator, streams, method):
    target = streams["member"][0]
    path = ACTIVITY if method == "post" else f"{ACTIVITY}{target.pk}/"

    response = getattr(api_operator, method)(path, {"verb": "hacked"}, format="json")

    assert response.status_code == 405
    assert not Activity.objects.filter(verb="hacked").exists()


# --- filters ----------------------------------------------------------------------------------------------


def test_filter_by_verb_and_local_date_range(api_member, api_operator, streams):
    checked_in, posted = streams["member"]

    assert ids(api_member.get(ACTIVITY, {"verb": "posted"})) == [posted.pk]
    assert ids(api_member.get(ACTIVITY, {"since": "2025-03-02"})) == [posted.pk]
    assert ids(api_member.get(ACTIVITY, {"until": "2025-03-04"})) == [checked_in.pk]
    assert ids(api_member.get(ACTIVITY, {"since": "2025-03-01", "until": "2025-03-01"})) == [checked_in.pk]
    assert api_operator.get(ACTIVITY, {"verb": "posted"}).json()["count"] == 3


def test_the_date_range_uses_the_members_own_day(api_member, member):
    member.time_zone = "America/Los_Angeles"
    member.save()
    # 2025-03-02 01:00 in Shanghai is still 1 March in Los Angeles.
    late = services.record_activity(member=member, verb="posted", occurred_at=on(date(2025, 3, 2), hour=1))

    assert ids(api_member.get(ACTIVITY, {"since": "2025-03-01", "until": "2025-03-01"})) == [late.pk]
    assert ids(api_member.get(ACTIVITY, {"since": "2025-03-02"})) == []


def test_an_operator_filters_by_member(api_operator, member, streams):
    response = api_operator.get(ACTIVITY, {"member": member.pk})

    assert sorted(ids(response)) == sorted(a.pk for a in streams["member"])


def test_a_member_filtering_by_someone_else_gets_nothing_of_theirs(api_member, other_member, streams):
    response = api_member.get(ACTIVITY, {"member": other_member.pk})

    assert response.status_code == 200
    assert ids(response) == []


def test_the_member_filter_does_not_tell_a_member_which_ids_exist(api_member, other_member, streams):
    missing = Member.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000

    existing = api_member.get(ACTIVITY, {"member": other_member.pk})
    absent = api_member.get(ACTIVITY, {"member": missing})

    assert (existing.status_code, existing.json()) == (absent.status_code, absent.json())


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-13-01"}, "until"),
        ({"member": "me"}, "member"),
        ({"member": "99999999999999999999999"}, "member"),
    ],
)
def test_a_malformed_filter_is_400_naming_it(api_operator, streams, params, field):
    response = api_operator.get(ACTIVITY, params)

    assert response.status_code == 400
    assert field in response.json()


def test_a_page_past_the_end_is_404(api_member, streams):
    assert api_member.get(ACTIVITY, {"page": 5}).status_code == 404


# --- query counts -----------------------------------------------------------------------------------------


def _stream_with_targets(member: Member, size: int) -> None:
    """`size` activities, each pointing at a different notification or member, as real activity does."""
    notification_type = ContentType.objects.get_for_model(Notification)
    member_type = ContentType.objects.get_for_model(Member)
    for n in range(size):
        if n % 2:
            target_type, target_id = notification_type, NotificationFactory(member=member).pk
        else:
            target_type, target_id = member_type, MemberFactory().pk
        ActivityFactory(
            member=member,
            target_type=target_type,
            target_id=str(target_id),
            occurred_at=on(date(2025, 1, 1)) + timedelta(minutes=n),
        )


@pytest.mark.parametrize("size", [3, 30])
def test_member_list_query_count_does_not_grow_with_the_stream(member, django_assert_num_queries, size):
    _stream_with_targets(member, size)
    client = fresh_client(member.user)

    with django_assert_num_queries(MEMBER_LIST_QUERIES):
        response = client.get(ACTIVITY)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == size
    assert {row["target_type"] for row in rows} == {"notification", "member"}


@pytest.mark.parametrize("size", [3, 30])
def test_operator_list_query_count_does_not_grow_with_the_stream(operator, django_assert_num_queries, size):
    for _ in range(size // 3):
        _stream_with_targets(MemberFactory(), 3)
    client = fresh_client(operator.user)

    with django_assert_num_queries(OPERATOR_LIST_QUERIES):
        response = client.get(ACTIVITY)

    assert response.status_code == 200
    assert len(response.json()["results"]) == size
