"""Rollups always agree with computing from the raw stream, for random data across time zones and any rebuild."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest

from analytics.models import CohortCell, DaySegment, DayVerb, MemberDay
from analytics.services.rollups import cohorts_recompute, rollups_rebuild
from community.models import Activity
from members.models import Member
from tests.factories import ActivityFactory, MemberFactory

pytestmark = pytest.mark.django_db

ZONES = ("Asia/Shanghai", "UTC", "America/Los_Angeles", "Pacific/Auckland")
VERBS = ("checked_in", "question_answered", "feedback_submitted")
START, END = date(2026, 1, 5), date(2026, 2, 20)


def make_world(seed: int) -> list[Member]:
    rng = random.Random(seed)
    members = []
    for index in range(12):
        joined = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 24 * 30))
        members.append(
            MemberFactory(
                time_zone=rng.choice(ZONES), joined_at=joined, segment=rng.choice(Member.Segment.values),
                display_name=f"m{index}",
            )
        )  # fmt: skip
    for _ in range(250):
        member = rng.choice(members)
        moment = member.joined_at + timedelta(minutes=rng.randrange(0, 60 * 24 * 45))
        ActivityFactory(member=member, verb=rng.choice(VERBS), occurred_at=moment)
    return members


def expected_from_raw():
    days = defaultdict(lambda: {"actions": 0, "verbs": set()})
    for member_id, day, verb in Activity.objects.values_list("member_id", "local_date", "verb"):
        days[(member_id, day)]["actions"] += 1
        days[(member_id, day)]["verbs"].add(verb)
    return days


@pytest.mark.parametrize("seed", [1, 2])
def test_member_days_day_segments_and_verbs_match_the_raw_stream(seed):
    make_world(seed)
    # Built in two overlapping pieces, then part of it again: the result must not depend on how it was built.
    rollups_rebuild(start=START, end=START + timedelta(days=20), cohorts=False)
    rollups_rebuild(start=START + timedelta(days=15), end=END, cohorts=False)
    rollups_rebuild(start=START + timedelta(days=3), end=START + timedelta(days=9))
    raw = expected_from_raw()
    in_range = {key: value for key, value in raw.items() if START <= key[1] <= END}
    stored = {(row.member_id, row.day): row for row in MemberDay.objects.all()}
    assert set(stored) == set(in_range)
    for key, value in in_range.items():
        assert stored[key].actions == value["actions"]
        assert set(stored[key].verbs.strip(",").split(",")) == value["verbs"]
    segment_of = dict(Member.objects.values_list("pk", "segment"))
    for day_offset in range((END - START).days + 1):
        day = START + timedelta(days=day_offset)
        for row in DaySegment.objects.filter(day=day):
            seg = row.segment
            active_on = {m for (m, d) in raw if d == day and segment_of[m] == seg}
            assert row.dau == len(active_on)
            assert row.actions == sum(v["actions"] for (m, d), v in raw.items() if d == day and segment_of[m] == seg)
            week = {m for (m, d) in raw if day - timedelta(days=6) <= d <= day and segment_of[m] == seg}
            month = {m for (m, d) in raw if day - timedelta(days=29) <= d <= day and segment_of[m] == seg}
            # WAU/MAU read member-days, so a window reaching before the rebuilt range only sees rolled-up days.
            if day - timedelta(days=29) >= START:
                assert (row.wau, row.mau) == (len(week), len(month))
            checked = {
                m for (m, d), v in raw.items() if d == day and segment_of[m] == seg and "checked_in" in v["verbs"]
            }
            assert row.check_ins == len(checked)
    for row in DayVerb.objects.all():
        raw_rows = Activity.objects.filter(local_date=row.day, verb=row.verb, member__segment=row.segment)
        assert row.actions == raw_rows.count()
        assert row.members == raw_rows.values("member_id").distinct().count()


def _raw_cells() -> set[tuple[date, int, int, int]]:
    """The cohort cells computed from the raw stream: (cohort week, week after joining, at least n active days,
    members), one per threshold from 1 to the most active days any member of the cell had."""
    from analytics.services.rollups import program_zone

    weeks = defaultdict(set)
    join_weeks = {}
    for member_id, day in Activity.objects.values_list("member_id", "local_date").distinct():
        join_day = Member.objects.get(pk=member_id).joined_at.astimezone(program_zone()).date()
        join_weeks[member_id] = join_day - timedelta(days=join_day.weekday())
        since = (day - join_day).days
        if 0 <= since < 13 * 7:
            weeks[(member_id, since // 7)].add(day)
    per_cell = defaultdict(list)
    for (member_id, index), days in weeks.items():
        per_cell[(join_weeks[member_id], index)].append(len(days))
    return {
        (week, index, n, sum(1 for days in counts if days >= n))
        for (week, index), counts in per_cell.items()
        for n in range(1, max(counts) + 1)
    }


def test_cohort_cells_match_the_raw_stream():
    make_world(3)
    rollups_rebuild(start=date(2025, 12, 1), end=date(2026, 3, 31))
    cohorts_recompute()
    expected = _raw_cells()
    assert expected
    assert set(CohortCell.objects.values_list("cohort_week", "week_index", "min_active_days", "members")) == expected


def test_a_rebuild_removes_days_whose_activity_is_gone():
    member = MemberFactory(joined_at=datetime(2026, 1, 1, tzinfo=UTC))
    activity = ActivityFactory(member=member, occurred_at=datetime(2026, 1, 10, 3, tzinfo=UTC))
    rollups_rebuild(start=START, end=END)
    assert MemberDay.objects.filter(member=member).count() == 1
    activity.delete()
    rollups_rebuild(start=START, end=END)
    assert not MemberDay.objects.filter(member=member).exists()
    assert DaySegment.objects.get(day=date(2026, 1, 10), segment=member.segment).dau == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_rebuilds_all_succeed_and_agree():
    import threading

    from django.db import connection

    make_world(5)
    errors = []

    def rebuild():
        try:
            rollups_rebuild(start=START, end=END)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=rebuild) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    raw = {key for key in expected_from_raw() if START <= key[1] <= END}
    assert set(MemberDay.objects.values_list("member_id", "day")) == raw
    assert DaySegment.objects.count() == 3 * ((END - START).days + 1)


def test_rebuilding_a_middle_range_keeps_previous_days_and_later_windows_exact():
    members = make_world(7)
    rollups_rebuild(start=START, end=END, cohorts=False)
    # The stream changes inside a few middle days only: some activity goes, some arrives.
    middle_start, middle_end = START + timedelta(days=20), START + timedelta(days=24)
    gone = list(Activity.objects.filter(local_date__gte=middle_start, local_date__lte=middle_end).values_list("pk"))
    Activity.objects.filter(pk__in=[pk for (pk,) in gone[::2]]).delete()
    for member in members[:4]:
        ActivityFactory(member=member, verb="checked_in", occurred_at=datetime(2026, 1, 27, 4, tzinfo=UTC))
    rollups_rebuild(start=middle_start, end=middle_end, cohorts=False)

    raw = {key for key in expected_from_raw() if START <= key[1] <= END}
    days_of = defaultdict(list)
    for member_id, day in sorted(raw):
        days_of[member_id].append(day)
    expected_prev = {}
    for member_id, days in days_of.items():
        for before, day in zip([None, *days], days, strict=False):
            expected_prev[(member_id, day)] = before
    assert {(row.member_id, row.day): row.prev_day for row in MemberDay.objects.all()} == expected_prev
    segment_of = dict(Member.objects.values_list("pk", "segment"))
    for row in DaySegment.objects.filter(day__gte=START + timedelta(days=29), day__lte=END):
        week = {m for (m, d) in raw if row.day - timedelta(days=6) <= d <= row.day and segment_of[m] == row.segment}
        month = {m for (m, d) in raw if row.day - timedelta(days=29) <= d <= row.day and segment_of[m] == row.segment}
        assert (row.wau, row.mau) == (len(week), len(month)), row.day


def _snapshot():
    """Every rollup table as comparable values (no ids or timestamps)."""
    from analytics.models import Cohort

    return {
        "member_days": set(
            MemberDay.objects.values_list(
                "member_id",
                "day",
                "segment",
                "actions",
                "verbs",
                "joined_on",
                "days_since_join",
                "prev_day",
                "week_active_days",
            )
        ),
        "day_verbs": set(DayVerb.objects.values_list("day", "segment", "verb", "members", "actions")),
        "day_segments": {
            (row.day, row.segment): (
                row.members,
                row.new_members,
                row.left_members,
                row.dau,
                row.wau,
                row.mau,
                row.actions,
                row.check_ins,
                list(row.active_gaps),
                dict(row.retained),
            )
            for row in DaySegment.objects.all()
        },
        "cohorts": set(Cohort.objects.values_list("week", "size")),
        "cells": set(CohortCell.objects.values_list("cohort_week", "week_index", "min_active_days", "members")),
    }


@pytest.mark.parametrize("seed", [11, 12])
def test_short_rebuilds_after_a_full_rebuild_equal_a_full_rebuild(seed):
    """The nightly path (a day or a few rewritten in place, later previous days fixed) ends where a full rebuild of
    the same stream ends, table by table, after the stream changed on those days."""
    members = make_world(seed)
    rng = random.Random(seed)
    rollups_rebuild(start=START, end=END)
    # Day by day, then a few days at once: activity goes, arrives (also for a member with nothing else that week).
    for first, last in ((START + timedelta(days=12), START + timedelta(days=12)),
                        (START + timedelta(days=30), START + timedelta(days=33))):  # fmt: skip
        in_range = list(
            Activity.objects.filter(local_date__gte=first, local_date__lte=last).values_list("pk", flat=True)
        )
        Activity.objects.filter(pk__in=rng.sample(in_range, len(in_range) // 3)).delete()
        for member in rng.sample(members, 4):
            moment = datetime.combine(first, datetime.min.time(), tzinfo=UTC) + timedelta(hours=rng.randrange(0, 24))
            ActivityFactory(member=member, verb=rng.choice(VERBS), occurred_at=moment)
        # Rebuilt a day wider than the change, as the scheduled jobs do (members' local days straddle the edges).
        rollups_rebuild(start=first - timedelta(days=1), end=last + timedelta(days=1))
        incremental = _snapshot()
        rollups_rebuild(start=START, end=END)
        assert _snapshot() == incremental


def test_a_short_rebuild_after_member_days_were_lost_rebuilds_everything():
    """Member-days are unlogged on PostgreSQL (emptied after a crash): the next short rebuild notices and ends where
    a full rebuild ends, instead of rolling up a few days without their history."""
    from analytics.services.rollups import rollups_rebuild_all

    make_world(14)
    rollups_rebuild_all()
    expected = _snapshot()
    assert expected["cells"]
    MemberDay.objects.all().delete()
    rollups_rebuild(start=END - timedelta(days=2), end=END)
    after = _snapshot()
    # The lost tables are whole again; the range asked for and every other rollup agree with the full rebuild.
    assert after == expected


def _raw_week_numbers() -> dict[tuple[int, date], int | None]:
    """Each member-day's number within its week after joining (1 … 7) in the first 13 weeks, from the raw stream."""
    from analytics.services.rollups import program_zone

    join_day = {pk: at.astimezone(program_zone()).date() for pk, at in Member.objects.values_list("pk", "joined_at")}
    days_of = defaultdict(set)
    for member_id, day in Activity.objects.values_list("member_id", "local_date"):
        days_of[member_id].add(day)
    numbers = {}
    for member_id, days in days_of.items():
        for day in days:
            since = (day - join_day[member_id]).days
            week_start = day - timedelta(days=since % 7)
            in_week = sum(1 for other in days if week_start <= other <= day)
            numbers[(member_id, day)] = in_week if 0 <= since < 13 * 7 else None
    return numbers


def test_week_numbers_follow_the_stream_through_short_rebuilds():
    """A day added inside a week after joining renumbers that member's later days of the week (also after the
    rebuilt range); a day removed does too."""
    make_world(15)
    rollups_rebuild(start=date(2025, 12, 1), end=date(2026, 3, 31))
    numbers = _raw_week_numbers()
    assert {(row.member_id, row.day): row.week_active_days for row in MemberDay.objects.all()} == numbers
    assert max(value or 0 for value in numbers.values()) >= 3
    # A member's first day of a week with three or more active days goes, then comes back: the days after it in that
    # week, outside the range rebuilt, change their numbers each time.
    member_id, third = next((key for key, number in sorted(numbers.items()) if number == 3))
    first = max(day for (m, day), number in numbers.items() if m == member_id and number == 1 and day < third)
    moved = list(Activity.objects.filter(member_id=member_id, local_date=first))
    Activity.objects.filter(pk__in=[row.pk for row in moved]).delete()
    rollups_rebuild(start=first, end=first, cohorts=False)
    assert {(row.member_id, row.day): row.week_active_days for row in MemberDay.objects.all()} == _raw_week_numbers()
    for row in moved:
        row.pk = None
        row.save()
    rollups_rebuild(start=first, end=first, cohorts=False)
    assert {(row.member_id, row.day): row.week_active_days for row in MemberDay.objects.all()} == numbers


def test_cohort_cells_stay_exact_through_short_rebuilds():
    make_world(13)
    rollups_rebuild(start=date(2025, 12, 1), end=date(2026, 3, 31))
    day = date(2026, 1, 20)
    # Every activity of the day goes: the members' weeks through that day lose a day (or disappear).
    Activity.objects.filter(local_date=day).delete()
    rollups_rebuild(start=day, end=day, cohorts=False)
    cohorts_recompute()
    assert set(CohortCell.objects.values_list("cohort_week", "week_index", "min_active_days", "members")) == (
        _raw_cells()
    )


def test_partial_member_day_indexes_cover_what_the_readers_look_up():
    """The retention and funnel readers only use their index while its condition matches their bounds."""
    from django.db.models import Q

    from analytics.selectors.funnel import ACTIVE_AFTER_FROM, ACTIVE_AFTER_TO
    from analytics.services.rollup_sql import COHORT_DAYS
    from analytics.services.rollups import RETURN_DAYS

    conditions = {index.name: index.condition for index in MemberDay._meta.indexes}
    assert conditions["analytics_memberday_since"] == Q(days_since_join__in=list(RETURN_DAYS))
    # The cohort cells read days 0 … 90 after joining (13 weeks); the funnel's days 30 … 59 lie inside them.
    assert conditions["analytics_memberday_cohort"] == Q(days_since_join__gte=0, days_since_join__lte=COHORT_DAYS - 1)
    assert 0 <= ACTIVE_AFTER_FROM <= ACTIVE_AFTER_TO <= COHORT_DAYS - 1
