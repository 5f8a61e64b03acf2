"""Leaderboards over the API: top N with dense ranks plus the caller's own rank, and frozen past periods."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from members.models import User
from rewards.models.leaderboards import period_containing
from rewards.services.leaderboards import leaderboard_snapshot_freeze
from tests.factories import MemberFactory, TagFactory
from tests.rewards.factories_badges import award, boards, committed, redis_boards, sql_boards

pytestmark = pytest.mark.django_db
__all__ = ["boards", "redis_boards", "sql_boards"]

BOARD = "/api/v1/leaderboards/"
SNAPSHOTS = "/api/v1/leaderboards/snapshots/"


def fresh(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=user.pk))
    return client


def count_queries(client: APIClient, path: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path, params or {}).status_code == 200
    return len(captured)


def entries(response) -> list[tuple[int, int, int]]:
    return [(row["rank"], row["member"]["id"], row["points"]) for row in response.json()["entries"]]


@pytest.fixture
def standings(member, other_member, operator, django_capture_on_commit_callbacks):
    crowd = [MemberFactory() for _ in range(3)]
    with committed(django_capture_on_commit_callbacks):
        for person, points in zip(crowd, (90, 90, 70), strict=True):
            award(person, points)
        award(other_member, 50)
        award(member, 20)
    return crowd


@pytest.fixture
def frozen_week(member, other_member, django_capture_on_commit_callbacks):
    last_week = period_containing("week").previous()
    with committed(django_capture_on_commit_callbacks):
        award(member, 30, at=last_week.starts_at + timedelta(days=1))
        award(other_member, 40, at=last_week.starts_at + timedelta(days=2))
    return leaderboard_snapshot_freeze(period_kind="week", period_key=last_week.key)[0]


def test_anonymous_callers_are_401(api_anon, frozen_week):
    for path in (BOARD, SNAPSHOTS, f"{SNAPSHOTS}{frozen_week.pk}/"):
        assert api_anon.get(path).status_code == 401


def test_a_member_sees_the_top_and_their_own_rank_outside_it(api_member, boards, standings, member):
    response = api_member.get(BOARD, {"period": "week", "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert entries(response) == [(1, standings[1].pk, 90), (1, standings[0].pk, 90)]
    assert body["me"] == {"rank": 4, "points": 20}  # 90, 70, 50 above: dense rank 4
    assert body["total"] == 5 and body["period"] == "week" and body["segment"] == ""
    assert body["key"] == period_containing("week").key
    assert body["source"] == ("redis" if boards is not None else "sql")


def test_another_member_and_an_operator_get_their_own_rank(api_other, api_operator, boards, standings):
    assert api_other.get(BOARD, {"period": "all"}).json()["me"] == {"rank": 3, "points": 50}
    operator_view = api_operator.get(BOARD, {"period": "day"}).json()
    assert operator_view["me"] == {"rank": None, "points": 0} and len(operator_view["entries"]) == 5


def test_defaults_and_segments(api_member, boards, standings, member):
    vip = TagFactory(name="vip")
    standings[2].tags.add(vip)
    member.tags.add(vip)
    default = api_member.get(BOARD).json()
    assert default["period"] == "week" and len(default["entries"]) == 5
    # Tags added after the awards: the live Redis board learns them on the next rebuild; the ledger knows now.
    from rewards.services.leaderboards import leaderboard_rebuild

    leaderboard_rebuild()
    segment = api_member.get(BOARD, {"period": "month", "segment": "vip"})
    assert entries(segment) == [(1, standings[2].pk, 70), (2, member.pk, 20)]
    assert segment.json()["me"] == {"rank": 2, "points": 20}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "year"}, "period"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"segment": "x" * 65}, "segment"),
        ({"period": "week", "key": "2026-W99"}, "key"),
        ({"period": "day", "key": "yesterday"}, "key"),
    ],
)
def test_bad_parameters_answer_400_with_the_field(api_member, params, field):
    response = api_member.get(BOARD, params)
    assert response.status_code == 400 and field in response.json()


def test_a_past_period_by_key_reads_its_snapshot(api_member, frozen_week, member, other_member):
    response = api_member.get(BOARD, {"period": "week", "key": frozen_week.period_key})
    assert response.json()["source"] == "snapshot"
    assert entries(response) == [(1, other_member.pk, 40), (2, member.pk, 30)]
    assert response.json()["me"] == {"rank": 2, "points": 30}


def test_the_board_has_a_constant_query_count(member, boards, django_capture_on_commit_callbacks):
    with committed(django_capture_on_commit_callbacks):
        award(member, 5)
    few = count_queries(fresh(member.user), BOARD, {"period": "week"})
    with committed(django_capture_on_commit_callbacks):
        for index in range(12):
            award(MemberFactory(), index + 1)
    assert count_queries(fresh(member.user), BOARD, {"period": "week"}) == few


# --- snapshots ---------------------------------------------------------------------------------------------


def test_snapshots_list_latest_first_with_their_top_ten(api_member, api_operator, frozen_week, other_member):
    rows = api_member.get(SNAPSHOTS).json()["results"]
    assert [row["id"] for row in rows] == [frozen_week.pk]
    assert rows[0]["entries"][0] == {
        "rank": 1,
        "member": {"id": other_member.pk, "display_name": "Zhang Wei"},
        "points": 40,
    }
    assert api_operator.get(SNAPSHOTS, {"period_kind": "week"}).json()["count"] == 1
    assert api_operator.get(SNAPSHOTS, {"period_kind": "day"}).json()["count"] == 0


def test_snapshot_detail_with_my_row(api_member, api_other, frozen_week):
    mine = api_member.get(f"{SNAPSHOTS}{frozen_week.pk}/").json()
    assert mine["me"] == {"rank": 2, "points": 30} and len(mine["entries"]) == 2
    assert api_other.get(f"{SNAPSHOTS}{frozen_week.pk}/").json()["me"] == {"rank": 1, "points": 40}
    assert api_member.get(f"{SNAPSHOTS}999999/").status_code == 404
    assert api_member.get(f"{SNAPSHOTS}abc/").status_code == 404


def test_the_snapshot_list_has_a_constant_query_count(member, sql_boards, django_capture_on_commit_callbacks):
    yesterday = period_containing("day").previous()
    with committed(django_capture_on_commit_callbacks):
        award(member, 5, at=yesterday.starts_at + timedelta(hours=1))
    leaderboard_snapshot_freeze(period_kind="day", period_key=yesterday.key)
    few = count_queries(fresh(member.user), SNAPSHOTS)
    day = yesterday
    with committed(django_capture_on_commit_callbacks):
        for _ in range(5):
            day = day.previous()
            for _person in range(3):
                award(MemberFactory(), 7, at=day.starts_at + timedelta(hours=2))
    frozen_day = yesterday
    for _ in range(5):
        frozen_day = frozen_day.previous()
        leaderboard_snapshot_freeze(period_kind="day", period_key=frozen_day.key)
    assert count_queries(fresh(member.user), SNAPSHOTS) == few


@pytest.mark.parametrize(
    "query",
    [
        "",
        "period=day",
        "period=month&limit=7",
        "period=all&segment=beta",
        "period=week&key=2026-W47&limit=100",
        "limit=1",
        "limit=100",
        "limit=101",
        "limit=0",
        "limit=007",
        "limit=5.0",
        "limit=%205",
        "limit=",
        "period=year",
        "period=",
        "key=%202026-11%20",
        "segment=%20beta",
        "segment=a%00b",
        "segment=" + "x" * 64,
        "segment=" + "x" * 65,
        "key=" + "1" * 11,
        "period=day&period=week",
    ],
)
def test_the_quick_query_check_agrees_with_the_serializer(query):
    from django.http import QueryDict
    from rest_framework.exceptions import ValidationError

    from rewards.api.leaderboards import LeaderboardQuerySerializer, _board_query

    params = QueryDict(query)
    expected = LeaderboardQuerySerializer(data=params)
    if expected.is_valid():
        taken = _board_query(params)
        assert {**taken, "key": taken.get("key") or ""} == {
            **expected.validated_data,
            "key": expected.validated_data.get("key") or "",
        }
    else:
        with pytest.raises(ValidationError) as refused:
            _board_query(params)
        assert refused.value.detail == expected.errors


# --- the live board's answer and its cost -----------------------------------------------------------------


def _expected_body(board, standing) -> bytes:
    """The answer as the view built it before the top rows were kept encoded: the whole dict, in one dump."""
    import orjson

    from community.api.renderers import OPTIONS

    body = {
        "period": board.period.kind,
        "key": board.period.key,
        "segment": board.segment,
        "source": board.source,
        "total": board.total,
        "entries": [
            {"rank": r.rank, "member": {"id": r.member_id, "display_name": r.display_name}, "points": r.points}
            for r in board.rows
        ],
        "me": {"rank": standing.rank, "points": standing.points},
    }
    return orjson.dumps(body, option=OPTIONS)


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json; indent=4"])
def test_the_answer_is_the_same_bytes_read_after_read(api_member, boards, standings, member, accept):
    from rewards.selectors.leaderboards import leaderboard_with_standing

    headers = {"HTTP_ACCEPT": accept} if accept else {}
    first = api_member.get(BOARD, {"period": "week", "limit": 3}, **headers)
    second = api_member.get(BOARD, {"period": "week", "limit": 3}, **headers)
    expected = _expected_body(*leaderboard_with_standing(member=member, period_kind="week", limit=3))
    assert first.content == second.content == expected
    assert first["Content-Type"] == "application/json"


def test_the_browsable_api_still_shows_the_board(api_member, boards, standings):
    response = api_member.get(BOARD, {"period": "week"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert b"&quot;entries&quot;" in response.content or b'"entries"' in response.content
    assert api_member.get(BOARD, {"format": "api"}).status_code == 200


def test_a_token_caller_costs_one_query_for_the_token_and_none_for_the_board(
    redis_boards, standings, member, django_assert_num_queries, settings
):
    from community.services import api_token_create

    settings.API_TOKEN_CACHE_SECONDS = 0  # the token is looked up on every call
    _token, raw = api_token_create(user=member.user, name="board reader")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(BOARD, {"period": "week"}).status_code == 200  # first use: last_used_at, display names
    for period in ("week", "week", "all"):
        with django_assert_num_queries(1):
            body = client.get(BOARD, {"period": period}).json()
        assert body["source"] == "redis" and len(body["entries"]) == 5 and body["me"]["points"] == 20
