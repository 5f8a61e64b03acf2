"""Live board reads: the top rows kept per process while a board is unchanged, and never once it changes."""

from __future__ import annotations

import pytest

from members.models import Member
from rewards.selectors import leaderboards as selectors
from rewards.selectors.leaderboards import board_keys, leaderboard_top, leaderboard_with_standing
from rewards.services.leaderboards import leaderboard_rebuild
from tests.factories import MemberFactory, TagFactory
from tests.rewards.factories_badges import award, committed, redis_boards

pytestmark = pytest.mark.django_db
__all__ = ["redis_boards"]


def ranks(board) -> list[tuple[int, int, int]]:
    return [(row.rank, row.member_id, row.points) for row in board.rows]


@pytest.fixture
def rows_read(monkeypatch) -> list[int]:
    """How many times a top was fetched from Redis and ranked (once per read that does not reuse a copy)."""
    calls: list[int] = []
    real = selectors._dense

    def counting(reply):
        calls.append(len(reply))
        return real(reply)

    monkeypatch.setattr(selectors, "_dense", counting)
    return calls


def test_an_unchanged_board_is_read_once_and_an_award_shows_at_once(
    redis_boards, django_capture_on_commit_callbacks, rows_read, member
):
    a, b = MemberFactory(), MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(a, 30)
        award(b, 30)
        award(member, 5)
    first, me = leaderboard_with_standing(member=member, period_kind="week", limit=2)
    again, me_again = leaderboard_with_standing(member=member, period_kind="week", limit=2)
    assert again is first and len(rows_read) == 1
    assert ranks(first) == [(1, b.pk, 30), (1, a.pk, 30)] and first.total == 3
    assert (me.rank, me.points) == (me_again.rank, me_again.points) == (2, 5)

    with committed(django_capture_on_commit_callbacks):
        award(member, 40)  # from outside the top to first place
    after, me_after = leaderboard_with_standing(member=member, period_kind="week", limit=2)
    assert after is not first and len(rows_read) == 2
    assert ranks(after) == [(1, member.pk, 45), (2, b.pk, 30)]
    assert (me_after.rank, me_after.points) == (1, 45)


def test_limits_segments_and_periods_are_kept_apart(redis_boards, django_capture_on_commit_callbacks):
    vip = TagFactory(name="vip")
    people = [MemberFactory() for _ in range(3)]
    people[0].tags.add(vip)
    with committed(django_capture_on_commit_callbacks):
        for person, points in zip(people, (10, 20, 30), strict=True):
            award(person, points)
    assert len(leaderboard_top(period_kind="week", limit=2).rows) == 2
    assert len(leaderboard_top(period_kind="week", limit=3).rows) == 3
    assert ranks(leaderboard_top(period_kind="week", segment="vip")) == [(1, people[0].pk, 10)]
    assert ranks(leaderboard_top(period_kind="day", limit=1)) == [(1, people[2].pk, 30)]
    assert leaderboard_top(period_kind="week", limit=2).rows[0].member_id == people[2].pk


def test_a_rebuild_replaces_the_copy(redis_boards, django_capture_on_commit_callbacks):
    a, b = MemberFactory(), MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(a, 10)
        award(b, 20)
    kept = leaderboard_top(period_kind="all")
    # A board that drifted (as after lost Redis writes) is put right by the rebuild, and the read follows.
    redis_boards.zadd(board_keys("all", "all").board, {f"{a.pk:019d}": 99})
    leaderboard_rebuild()
    rebuilt = leaderboard_top(period_kind="all")
    assert rebuilt is not kept and ranks(rebuilt) == [(1, b.pk, 20), (2, a.pk, 10)]


def test_a_renamed_member_shows_once_the_names_are_due(
    redis_boards, django_capture_on_commit_callbacks, monkeypatch, member
):
    with committed(django_capture_on_commit_callbacks):
        award(member, 10)
    assert leaderboard_top(period_kind="week").rows[0].display_name == member.display_name
    Member.objects.filter(pk=member.pk).update(display_name="Renamed")
    assert leaderboard_top(period_kind="week").rows[0].display_name == member.display_name
    real = selectors._clock
    monkeypatch.setattr(selectors, "_clock", lambda: real() + selectors.NAME_CACHE_SECONDS + 1)
    assert leaderboard_top(period_kind="week").rows[0].display_name == "Renamed"


def test_without_the_award_version_in_the_boards_redis_every_read_fetches_the_top(
    redis_boards, django_capture_on_commit_callbacks, monkeypatch, rows_read
):
    monkeypatch.setattr(selectors, "_version_key", lambda: None)
    a = MemberFactory()
    with committed(django_capture_on_commit_callbacks):
        award(a, 10)
    first = leaderboard_top(period_kind="week")
    second = leaderboard_top(period_kind="week")
    assert first is not second and first == second and len(rows_read) == 2


def test_the_standing_alone_fetches_no_top(redis_boards, django_capture_on_commit_callbacks, rows_read, member):
    with committed(django_capture_on_commit_callbacks):
        award(member, 10)
    standing = selectors.leaderboard_rank_for(member=member, period_kind="week")
    assert (standing.rank, standing.points) == (1, 10) and rows_read == []
