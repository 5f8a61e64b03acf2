"""Leaderboards: dense ranks, own rank outside the top, Redis and SQL agreeing, rebuild = incremental, snapshots."""

from __future__ import annotations

import random
import time
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from community.errors import ServiceError
from community.models import AuditLog
from members.models import Member, Tag
from rewards.models import LeaderboardSnapshot, LeaderboardSnapshotRow, PointEntry
from rewards.models.leaderboards import period_containing, period_parse
from rewards.selectors.leaderboards import (
    board_keys,
    leaderboard_rank_for,
    leaderboard_top,
    member_segments,
    ready_key,
    redis_client,
)
from rewards.services.leaderboards import (
    leaderboard_freeze_finished,
    leaderboard_rebuild,
    leaderboard_snapshot_freeze,
    live_periods,
)
from rewards.services.ledger import points_reverse
from rewards.tasks.leaderboards import leaderboards_freeze_finished, leaderboards_rebuild
from tests.factories import MemberFactory, TagFactory
from tests.rewards.factories_badges import award, boards, committed, local, now_shanghai, redis_boards, sql_boards

pytestmark = pytest.mark.django_db
__all__ = ["boards", "redis_boards", "sql_boards"]  # fixtures used by name below

LEADERBOARDS = "/rewards/leaderboards/"


def ranks(board) -> list[tuple[int, int, int]]:
    return [(row.rank, row.member_id, row.points) for row in board.rows]


# --- dense ranks and own rank ------------------------------------------------------------------------------


def test_dense_ranks_with_ties(boards, django_capture_on_commit_callbacks):
    a, b, c, d = (MemberFactory() for _ in range(4))
    with committed(django_capture_on_commit_callbacks):
        award(a, 30)
        award(b, 20)
        award(b, 10)  # b ties with a through two entries
        award(c, 20)
        award(d, 5)
    board = leaderboard_top(period_kind="week")
    # Equal points share a rank; the next total takes the next number; ties list the newest member first.
    assert ranks(board) == [(1, b.pk, 30), (1, a.pk, 30), (2, c.pk, 20), (3, d.pk, 5)]
    assert board.total == 4
    assert [row.display_name for row in board.rows[:2]] == [b.display_name, a.display_name]
    for kind in ("all", "month", "day"):
        assert ranks(leaderboard_top(period_kind=kind)) == ranks(board)
    assert leaderboard_rank_for(member=c, period_kind="week").rank == 2
    assert leaderboard_rank_for(member=a, period_kind="all").rank == 1


def test_own_rank_outside_the_top(boards, django_capture_on_commit_callbacks, member):
    others = [MemberFactory() for _ in range(5)]
    with committed(django_capture_on_commit_callbacks):
        for points, other in zip((50, 40, 40, 30, 20), others, strict=True):
            award(other, points)
        award(member, 10)
    top = leaderboard_top(period_kind="day", limit=2)
    assert [row.rank for row in top.rows] == [1, 2] and member.pk not in [row.member_id for row in top.rows]
    standing = leaderboard_rank_for(member=member, period_kind="day")
    assert (standing.rank, standing.points) == (5, 10)  # 50, 40, 30, 20 are higher: dense rank 5, not 6
    nobody = MemberFactory()
    assert (leaderboard_rank_for(member=nobody, period_kind="day").rank, nobody.pk) == (None, nobody.pk)


def test_spending_does_not_move_boards_and_a_reversal_removes_points(boards, django_capture_on_commit_callbacks):
    from rewards.services.ledger import points_spend

    a, b = MemberFactory(), MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(a, 30)
        award(b, 20)
        points_spend(member=a, amount=25, reason="coupon", idempotency_key="spend")
    assert ranks(leaderboard_top(period_kind="week")) == [(1, a.pk, 30), (2, b.pk, 20)]
    entry = PointEntry.objects.get(member=a, kind="earn")
    with committed(django_capture_on_commit_callbacks):
        award(a, 25)  # enough spendable points left for the reversal to take the 30 back
        points_reverse(entry=entry, actor=None, reason="mistake")
    assert ranks(leaderboard_top(period_kind="week")) == [(1, a.pk, 25), (2, b.pk, 20)]


def test_an_award_shows_on_the_live_board_within_a_second(boards, django_capture_on_commit_callbacks, member):
    rival = MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(rival, 100)
    assert leaderboard_rank_for(member=member, period_kind="week").rank is None
    started = time.monotonic()
    with committed(django_capture_on_commit_callbacks):
        award(member, 150)
    top = leaderboard_top(period_kind="week")
    assert time.monotonic() - started < 1.0
    assert ranks(top)[0] == (1, member.pk, 150)
    assert leaderboard_rank_for(member=member, period_kind="week").rank == 1


def test_periods_follow_the_program_time_zone(boards, django_capture_on_commit_callbacks):
    """23:30 in Shanghai on a Sunday is still that day and that ISO week there (15:30 UTC)."""
    member = MemberFactory()
    sunday = now_shanghai().date() - timedelta(days=now_shanghai().weekday() + 1)
    with committed(django_capture_on_commit_callbacks):
        award(member, 7, at=local(sunday, 23).replace(minute=30))
    day = period_containing("day", local(sunday))
    week = period_containing("week", local(sunday))
    assert day.key == f"{sunday:%Y-%m-%d}" and week.key.endswith(f"W{sunday.isocalendar().week:02d}")
    assert ranks(leaderboard_top(period_kind="day", period_key=day.key))[0][2] == 7
    assert ranks(leaderboard_top(period_kind="week", period_key=week.key))[0][2] == 7
    assert ranks(leaderboard_top(period_kind="day", period_key=day.next().key)) == []
    assert ranks(leaderboard_top(period_kind="week")) == []  # this week started the next day


def test_segments_are_member_tags(boards, django_capture_on_commit_callbacks):
    beta = TagFactory(name="beta tester")
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    a.tags.add(beta)
    c.tags.add(beta, TagFactory(name="KOL"))
    assert member_segments([a.pk, b.pk, c.pk]) == {a.pk: ["beta tester"], c.pk: ["KOL", "beta tester"]}
    with committed(django_capture_on_commit_callbacks):
        award(a, 10)
        award(b, 50)
        award(c, 20)
    assert ranks(leaderboard_top(period_kind="month", segment="beta tester")) == [(1, c.pk, 20), (2, a.pk, 10)]
    assert ranks(leaderboard_top(period_kind="month", segment="KOL")) == [(1, c.pk, 20)]
    assert leaderboard_rank_for(member=b, period_kind="month", segment="beta tester").rank is None
    assert leaderboard_rank_for(member=a, period_kind="month", segment="beta tester").rank == 2
    assert ranks(leaderboard_top(period_kind="month", segment="nobody has this")) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the balance update returns segments on PostgreSQL")
def test_an_award_reads_the_members_segments_with_its_balance(redis_boards, django_capture_on_commit_callbacks):
    member = MemberFactory()
    member.tags.add(TagFactory(name="beta tester"))
    with committed(django_capture_on_commit_callbacks):
        award(member, 1)  # the first posting also creates the balance row
    with CaptureQueriesContext(connection) as captured, committed(django_capture_on_commit_callbacks):
        award(member, 10)
    tag_reads = [q["sql"] for q in captured.captured_queries if Member.tags.through._meta.db_table in q["sql"]]
    # The posting statement itself (the balance update, on PostgreSQL together with the entry insert).
    assert len(tag_reads) == 1 and tag_reads[0].startswith(("UPDATE", "WITH b AS (UPDATE", "WITH b AS (INSERT"))
    assert ranks(leaderboard_top(period_kind="week", segment="beta tester")) == [(1, member.pk, 11)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"period_kind": "year"}, "period"),
        ({"period_kind": "week", "period_key": "2026-13"}, "key"),
        ({"period_kind": "week", "period_key": "2026-W54"}, "key"),
        ({"period_kind": "month", "period_key": "2026-13"}, "key"),
        ({"period_kind": "day", "period_key": "2026-02-30"}, "key"),
        ({"period_kind": "day", "limit": 0}, "limit"),
        ({"period_kind": "day", "limit": 100_000}, "limit"),
        ({"period_kind": "day", "segment": "x" * 65}, "segment"),
    ],
)
def test_bad_board_requests_name_the_field(kwargs, field):
    with pytest.raises(ServiceError) as error:
        leaderboard_top(**kwargs)
    assert error.value.field == field


def test_period_keys_round_trip():
    for kind, key in (("month", "2026-11"), ("week", "2026-W47"), ("day", "2026-11-22"), ("week", "2020-W53")):
        period = period_parse(kind, key)
        assert period.key == key and period.starts_at < period.ends_at
        assert period.next().previous() == period
    assert period_parse("week", "2026-W01").starts_at.date() == date(2025, 12, 29)


# --- Redis and SQL agree; rebuild equals incremental --------------------------------------------------------


def _random_ledger(rng: random.Random, capture) -> list:
    members = [MemberFactory() for _ in range(12)]
    vip, beta = TagFactory(name="vip"), TagFactory(name="beta")
    for index, member in enumerate(members):
        if index % 3 == 0:
            member.tags.add(vip)
        if index % 2 == 0:
            member.tags.add(beta)
    today = now_shanghai()
    moments = [today - timedelta(days=offset, hours=rng.randrange(5)) for offset in (0, 0, 1, 3, 8, 20, 40)]
    with committed(capture):
        for _ in range(60):
            award(rng.choice(members), rng.choice((5, 5, 10, 20, 50)), at=rng.choice(moments))
        first = PointEntry.objects.filter(lifetime_delta__gt=0).order_by("pk").first()
        award(first.member, 100)
        points_reverse(entry=first, actor=None, reason="test")  # a negative entry in the current period
    return members


BOARDS = [(kind, segment) for kind in ("all", "month", "week", "day") for segment in ("", "vip", "beta")]


def _read_everything(members) -> dict:
    seen = {}
    for kind, segment in BOARDS:
        for period in (period_containing(kind), period_containing(kind).previous()):
            board = leaderboard_top(period_kind=kind, period_key=period.key, segment=segment, limit=5)
            standings = [
                leaderboard_rank_for(member=m, period_kind=kind, period_key=period.key, segment=segment)
                for m in members
            ]
            seen[(kind, period.key, segment)] = (ranks(board), board.total, standings)
    return seen


def test_redis_and_sql_give_the_same_answers(redis_boards, django_capture_on_commit_callbacks):
    members = _random_ledger(random.Random(7), django_capture_on_commit_callbacks)
    from_redis = _read_everything(members)
    assert {leaderboard_top(period_kind=kind).source for kind in ("all", "week")} == {"redis"}
    with override_settings(REDIS_URL=None):
        assert leaderboard_top(period_kind="week").source == "sql"
        from_sql = _read_everything(members)
    assert from_redis == from_sql
    assert any(rows for rows, _total, _standings in from_redis.values())


def _dump(client) -> dict:
    dumped = {}
    for period in live_periods():
        for segment in ("", "vip", "beta"):
            keys = board_keys(period.kind, period.key, segment)
            dumped[(period.kind, period.key, segment)] = (
                client.zrange(keys.board, 0, -1, withscores=True),
                client.zrange(keys.scores, 0, -1, withscores=True),
                client.hgetall(keys.counts),
            )
    return dumped


def test_rebuild_from_the_ledger_equals_the_incremental_boards(redis_boards, django_capture_on_commit_callbacks):
    _random_ledger(random.Random(11), django_capture_on_commit_callbacks)
    incremental = _dump(redis_boards)
    result = leaderboard_rebuild()
    assert result.boards >= 10 and result.members > 0
    assert _dump(redis_boards) == incremental
    assert any(board for board, _scores, _counts in incremental.values())


def test_rebuild_repairs_a_board_that_drifted(redis_boards, django_capture_on_commit_callbacks):
    a, b = MemberFactory(), MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(a, 10)
        award(b, 20)
    keys = board_keys("all", "all")
    redis_boards.zadd(keys.board, {"0000000000000999999": 500, f"{a.pk:019d}": 1})  # a ghost, and a lost award
    leaderboards_rebuild()
    assert ranks(leaderboard_top(period_kind="all")) == [(1, b.pk, 20), (2, a.pk, 10)]
    assert redis_boards.zcard(keys.scores) == 2


def test_an_award_committed_while_the_rebuild_runs_is_kept_once(
    redis_boards, django_capture_on_commit_callbacks, monkeypatch
):
    from rewards.services import leaderboards as service

    early, late = MemberFactory(), MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(early, 10)
    real_sums = service._sums

    def sums_then_an_award_lands(*args, **kwargs):
        totals = real_sums(*args, **kwargs)
        with committed(django_capture_on_commit_callbacks):
            award(late, 25)  # committed after the totals were read, before the new boards are swapped in
        return totals

    monkeypatch.setattr(service, "_sums", sums_then_an_award_lands)
    leaderboard_rebuild()
    assert ranks(leaderboard_top(period_kind="day")) == [(1, late.pk, 25), (2, early.pk, 10)]
    assert ranks(leaderboard_top(period_kind="all")) == [(1, late.pk, 25), (2, early.pk, 10)]


def test_boards_not_marked_ready_are_read_from_the_ledger(redis_boards, django_capture_on_commit_callbacks):
    member = MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(member, 10)
    redis_boards.delete(ready_key("week", period_containing("week").key))
    board = leaderboard_top(period_kind="week")
    assert board.source == "sql" and ranks(board) == [(1, member.pk, 10)]
    assert leaderboard_top(period_kind="day").source == "redis"


def test_rebuild_without_redis_is_a_no_op(sql_boards):
    assert leaderboard_rebuild().boards == 0


# --- frozen snapshots --------------------------------------------------------------------------------------


def test_a_frozen_snapshot_never_changes(boards, django_capture_on_commit_callbacks, operator):
    last_week = period_containing("week").previous()
    inside = local(last_week.starts_at.date() + timedelta(days=2))
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(a, 30, at=inside)
        award(b, 30, at=inside)
        award(c, 10, at=inside)
        award(c, 99)  # this week: not in last week's board
    snapshots = leaderboard_snapshot_freeze(period_kind="week", period_key=last_week.key, actor=operator.user)
    assert [s.segment for s in snapshots] == [""]
    rows = list(snapshots[0].rows.order_by("rank", "-member_id").values_list("rank", "member_id", "points"))
    assert rows == [(1, b.pk, 30), (1, a.pk, 30), (2, c.pk, 10)]
    assert snapshots[0].member_count == 3
    assert AuditLog.objects.filter(action="leaderboards.freeze", actor=operator.user).exists()

    # A late entry dated inside the frozen week changes nothing: freezing again returns the same snapshot.
    with committed(django_capture_on_commit_callbacks):
        award(c, 500, at=inside)
    again = leaderboard_snapshot_freeze(period_kind="week", period_key=last_week.key)
    assert [s.pk for s in again] == [snapshots[0].pk]
    assert list(again[0].rows.order_by("rank", "-member_id").values_list("rank", "member_id", "points")) == rows
    board = leaderboard_top(period_kind="week", period_key=last_week.key)
    assert board.source == "snapshot" and ranks(board) == rows
    assert leaderboard_rank_for(member=c, period_kind="week", period_key=last_week.key).points == 10


def test_freezing_refuses_unfinished_periods_and_all_time():
    for kind, key, field in (("week", period_containing("week").key, "key"), ("all", "all", "period")):
        with pytest.raises(ServiceError) as error:
            leaderboard_snapshot_freeze(period_kind=kind, period_key=key)
        assert error.value.field == field
    assert not LeaderboardSnapshot.objects.exists()


def test_segments_are_frozen_too(sql_boards, django_capture_on_commit_callbacks):
    vip = TagFactory(name="vip")
    a, b = MemberFactory(), MemberFactory()
    a.tags.add(vip)
    yesterday = period_containing("day").previous()
    with committed(django_capture_on_commit_callbacks):
        award(a, 5, at=yesterday.starts_at + timedelta(hours=3))
        award(b, 9, at=yesterday.starts_at + timedelta(hours=4))
    snapshots = leaderboard_snapshot_freeze(period_kind="day", period_key=yesterday.key)
    assert {s.segment: s.member_count for s in snapshots} == {"": 2, "vip": 1}
    assert ranks(leaderboard_top(period_kind="day", period_key=yesterday.key, segment="vip")) == [(1, a.pk, 5)]
    # A segment nobody in it had points in is an empty frozen board.
    Tag.objects.create(name="empty")
    assert leaderboard_top(period_kind="day", period_key=yesterday.key, segment="empty").source == "snapshot"


def test_the_scheduled_freeze_catches_up_and_is_idempotent(sql_boards, django_capture_on_commit_callbacks):
    member = MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(member, 5, at=period_containing("day").previous().starts_at + timedelta(hours=1))
    created = leaderboards_freeze_finished()
    assert created == 7 + 4 + 2  # the last 7 days, 4 weeks and 2 months, one board each (nobody is tagged)
    assert leaderboards_freeze_finished() == 0
    yesterday = period_containing("day").previous().key
    assert LeaderboardSnapshotRow.objects.filter(member=member, snapshot__period_key=yesterday).get().rank == 1
    assert len(leaderboard_freeze_finished()) == 0


# --- portal ------------------------------------------------------------------------------------------------


def test_the_leaderboard_page_needs_a_login(client):
    response = client.get(LEADERBOARDS)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("persona", ["web_member", "web_operator"])
def test_the_leaderboard_page_shows_every_tab(persona, request, sql_boards):
    web = request.getfixturevalue(persona)
    for kind in ("all", "month", "week", "day", "bogus"):
        response = web.get(LEADERBOARDS, {"period": kind, "segment": "not a tag"})
        assert response.status_code == 200
        assert response.context["period_kind"] == (kind if kind != "bogus" else "week")


def test_my_row_is_highlighted_even_outside_the_top(
    web_member, member, monkeypatch, boards, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("rewards.views.leaderboards.TOP", 3)
    with committed(django_capture_on_commit_callbacks):
        for points in (90, 80, 70, 60):
            award(MemberFactory(), points)
        award(member, 10)
    response = web_member.get(LEADERBOARDS, {"period": "week"})
    assert response.context["me_in_top"] is False
    assert (response.context["me"].rank, response.context["me"].points) == (5, 10)
    body = response.content.decode()
    assert body.count('class="me"') == 1 and "Lin Mei" in body


def _queries(web, params) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert web.get(LEADERBOARDS, params).status_code == 200
    return len(captured)


def test_the_leaderboard_page_has_a_constant_query_count(
    web_member, member, boards, django_capture_on_commit_callbacks
):
    last_month = period_containing("month").previous()
    with committed(django_capture_on_commit_callbacks):
        award(member, 5)
        award(member, 5, at=last_month.starts_at + timedelta(days=1))
    leaderboard_snapshot_freeze(period_kind="month", period_key=last_month.key)
    few = _queries(web_member, {"period": "week"})
    with committed(django_capture_on_commit_callbacks):
        for index in range(15):
            other = MemberFactory()
            award(other, index + 1)
            award(other, index + 1, at=last_month.starts_at + timedelta(days=2))
    LeaderboardSnapshot.objects.all().delete()
    leaderboard_snapshot_freeze(period_kind="month", period_key=last_month.key)
    assert _queries(web_member, {"period": "week"}) == few
    assert len(web_member.get(LEADERBOARDS, {"period": "week"}).context["past"][0][1]) == 10


def test_a_past_board_page(web_member, member, sql_boards, django_capture_on_commit_callbacks):
    last_week = period_containing("week").previous()
    with committed(django_capture_on_commit_callbacks):
        award(member, 5, at=last_week.starts_at + timedelta(days=1))
    leaderboard_snapshot_freeze(period_kind="week", period_key=last_week.key)
    url = f"{LEADERBOARDS}past/week/{last_week.key}/"
    response = web_member.get(url)
    assert response.status_code == 200 and response.context["mine"].rank == 1
    assert web_member.get(f"{LEADERBOARDS}past/week/1999-W01/").status_code == 404
    assert web_member.get(f"{LEADERBOARDS}past/year/2020/").status_code == 404
    assert web_member.get(f"{LEADERBOARDS}past/week/not-a-key/").status_code == 404


# --- admin -------------------------------------------------------------------------------------------------


def test_operators_rebuild_and_freeze_from_the_admin(client, operator, sql_boards):
    client.force_login(operator.user)
    changelist = "/admin/rewards/leaderboardsnapshot/"
    page = client.get(changelist)
    assert page.status_code == 200 and b"rebuild/" in page.content
    assert client.get(f"{changelist}rebuild/").status_code == 405
    assert client.post(f"{changelist}rebuild/").status_code == 302
    assert client.post(f"{changelist}freeze/").status_code == 302
    assert LeaderboardSnapshot.objects.filter(period_kind="day").count() == 7


def test_analysts_cannot_rebuild(client, analyst):
    client.force_login(analyst.user)
    assert client.get("/admin/rewards/leaderboardsnapshot/").status_code == 200
    assert client.post("/admin/rewards/leaderboardsnapshot/freeze/").status_code == 403
    assert not LeaderboardSnapshot.objects.exists()


def test_a_snapshot_is_read_only_in_the_admin(client, operator, member, sql_boards, django_capture_on_commit_callbacks):
    yesterday = period_containing("day").previous()
    with committed(django_capture_on_commit_callbacks):
        award(member, 5, at=yesterday.starts_at + timedelta(hours=2))
    snapshot = leaderboard_snapshot_freeze(period_kind="day", period_key=yesterday.key)[0]
    client.force_login(operator.user)
    page = client.get(f"/admin/rewards/leaderboardsnapshot/{snapshot.pk}/change/")
    assert page.status_code == 200 and member.display_name.encode() in page.content
    assert client.post(f"/admin/rewards/leaderboardsnapshot/{snapshot.pk}/delete/").status_code == 403


def test_redis_keys_use_the_configured_namespace(redis_boards):
    prefix = ready_key("all", "all").rsplit(":ready:", 1)[0]
    with override_settings(HEARTH_LEADERBOARD_KEY_PREFIX="elsewhere:lb"):
        assert ready_key("all", "all") == "elsewhere:lb:ready:all:all"
        assert leaderboard_top(period_kind="all").source == "sql"  # nothing built under that namespace
    assert redis_client().exists(f"{prefix}:ready:all:all")


def test_an_award_bumps_the_sql_board_cache_on_the_live_board_pipeline(
    redis_boards, django_capture_on_commit_callbacks, monkeypatch
):
    from django.core.cache import cache

    import rewards.services.leaderboards as board_writes
    from rewards.selectors.leaderboards import SQL_CACHE_VERSION_KEY

    member = MemberFactory()
    before = cache.get(SQL_CACHE_VERSION_KEY, 0)
    separate = []
    monkeypatch.setattr(board_writes, "sql_cache_bump", lambda: separate.append(1))
    with committed(django_capture_on_commit_callbacks):
        award(member, 3)
    assert separate == []  # no round trip of its own: it went with the board moves
    assert cache.get(SQL_CACHE_VERSION_KEY, 0) == before + 1


def test_the_increment_script_sums_repeats_and_keeps_dense_ranks(redis_boards):
    from rewards.selectors.leaderboards import board_keys, redis_script, run_pipeline
    from rewards.services.leaderboards import INCREMENT_SCRIPT

    client = redis_boards
    keys = board_keys("day", "test-increment", "")
    script = redis_script(client, "increment", INCREMENT_SCRIPT)

    def move(*pairs):
        args = [0, "", len(pairs)]
        for member, delta in pairs:
            args += [member, delta]
        run_pipeline(
            client, lambda pipe: script(keys=[keys.board, keys.scores, keys.counts, "idx"], args=args, client=pipe)
        )

    try:
        move(("1", 5), ("2", 5), ("1", 2), ("3", 4))  # member 1 twice: 7
        assert client.zscore(keys.board, "1") == 7 and client.zscore(keys.board, "2") == 5
        assert client.hgetall(keys.counts) == {"7": "1", "5": "1", "4": "1"}
        move(("2", 2), ("3", -4))  # 2 joins 1 on 7; 3 drops to zero and off the board
        assert client.zscore(keys.board, "3") is None
        assert client.hgetall(keys.counts) == {"7": "2"}
        assert client.zrange(keys.scores, 0, -1) == ["7"]
        move(("1", -10))  # below zero: stays on the board, counted nowhere
        assert client.zscore(keys.board, "1") == -3 and client.hgetall(keys.counts) == {"7": "1"}
    finally:
        client.delete(keys.board, keys.scores, keys.counts, "idx")
