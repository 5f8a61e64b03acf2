"""A small fixed program whose KPIs are computed by hand in the tests (program time zone Asia/Shanghai, UTC+8).

- A (Shanghai) joined Mon 2026-03-02 10:00 local; checked in 03-02 23:30 local (that day, not the next), answered a
  question 03-03 09:00, checked in 03-09 (day 7).
- B (Los Angeles) joined 2026-03-02 09:00 Shanghai; checked in at 2026-03-04 07:30 UTC = 03-03 23:30 in LA (day 1),
  submitted feedback 03-04 22:00 LA.
- C (Shanghai) joined 2026-02-20, checked in 03-01, left 03-04 12:00.
- D (Shanghai, loyal) joined 03-04 23:59 local, never active.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from members.models import Member
from tests.factories import ActivityFactory, MemberFactory

SH = ZoneInfo("Asia/Shanghai")
LA = ZoneInfo("America/Los_Angeles")


def at(zone, *args) -> datetime:
    return datetime(*args, tzinfo=zone)


def record_activity(*, member, verb, occurred_at):
    # Written straight to the stream: other apps' activity hooks (points, onboarding) must not add rows here.
    return ActivityFactory(member=member, verb=verb, occurred_at=occurred_at)


@pytest.fixture
def program(db):
    a = MemberFactory(display_name="A", joined_at=at(SH, 2026, 3, 2, 10), segment=Member.Segment.ACTIVE)
    b = MemberFactory(
        display_name="B", time_zone="America/Los_Angeles", joined_at=at(SH, 2026, 3, 2, 9), segment="active"
    )
    c = MemberFactory(
        display_name="C",
        joined_at=at(SH, 2026, 2, 20, 12),
        status=Member.Status.LEFT,
        left_at=at(SH, 2026, 3, 4, 12),
        segment=Member.Segment.NOVICE,
    )
    d = MemberFactory(display_name="D", joined_at=at(SH, 2026, 3, 4, 23, 59), segment=Member.Segment.LOYAL)
    record_activity(member=a, verb="checked_in", occurred_at=at(SH, 2026, 3, 2, 23, 30))
    record_activity(member=a, verb="question_answered", occurred_at=at(SH, 2026, 3, 3, 9))
    record_activity(member=a, verb="checked_in", occurred_at=at(SH, 2026, 3, 9, 8))
    record_activity(member=b, verb="checked_in", occurred_at=datetime(2026, 3, 4, 7, 30, tzinfo=UTC))
    record_activity(member=b, verb="feedback_submitted", occurred_at=at(LA, 2026, 3, 4, 22))
    record_activity(member=c, verb="checked_in", occurred_at=at(SH, 2026, 3, 1, 10))
    return {"a": a, "b": b, "c": c, "d": d}


@pytest.fixture
def rolled(program):
    from analytics.services.rollups import rollups_rebuild

    rollups_rebuild(start=date(2026, 2, 1), end=date(2026, 3, 10))
    return program
