"""Engagement jobs at scale: the quiet-member job over 100,000 members and 5,000,000 activity rows, and an
operator message fanned out to 10,000 members.

The population is made in bulk (bulk_create for accounts and profiles, one INSERT … SELECT for the activity rows
on PostgreSQL, then VACUUM ANALYZE) before any timing starts; a database that holds them already is reused. About
one member in 33 has gone quiet: active on many days between 15 and 85 days ago, silent since. The job is timed
end to end (the grouped query, the follow-up tasks, the nudges) with its statement count, then run again for the
same day (a no-op: the figure shows what an idempotent re-run costs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.harness import Benchmark, Context, Figure
from community.models import Activity, FollowUpTask
from members.models import Member, User

MEMBERS = 100_000
ACTIVITY_ROWS = 5_000_000
FAN_OUT = 10_000
QUIET_EVERY = 33
DOMAIN = "bench-engage.example"
BATCH = 5000
UNUSABLE = "!"  # an unusable password hash: bench accounts cannot sign in


def _members(count: int) -> list[int]:
    existing = list(
        Member.objects.filter(user__email__endswith=f"@{DOMAIN}").order_by("id").values_list("id", flat=True)
    )
    if len(existing) >= count:
        return existing[:count]
    now = timezone.now()
    start = len(existing)
    for first in range(start, count, BATCH):
        last = min(count, first + BATCH)
        users = User.objects.bulk_create(
            [User(email=f"m{index}@{DOMAIN}", password=UNUSABLE, date_joined=now) for index in range(first, last)]
        )
        Member.objects.bulk_create(
            [
                Member(user=user, display_name=f"Bench member {first + offset}", joined_at=now - timedelta(days=200))
                for offset, user in enumerate(users)
            ]
        )
    return list(Member.objects.filter(user__email__endswith=f"@{DOMAIN}").order_by("id").values_list("id", flat=True))


PG_ACTIVITY = """
WITH ids AS (SELECT array_agg(id ORDER BY id) AS a, count(*)::int AS n FROM members_member WHERE id = ANY(%(ids)s))
INSERT INTO community_activity (member_id, verb, target_id, data, occurred_at, local_date, recorded_at)
SELECT ids.a[1 + g %% ids.n],
       (ARRAY['checked_in', 'feedback_submitted', 'question_answered', 'event_attended'])[1 + g %% 4],
       '', '{}'::jsonb, (%(today)s::date - o.off) + time '04:00' AT TIME ZONE 'UTC', %(today)s::date - o.off, now()
FROM ids, generate_series(0, %(rows)s - 1) AS g,
LATERAL (SELECT CASE WHEN (g %% ids.n) %% %(every)s = 0
                     THEN 15 + ((g / ids.n) * 7 + g %% 5) %% 70
                     ELSE ((g / ids.n) * 37 + (g %% ids.n)) %% 90 END AS off) AS o
"""


def _activities(member_ids: list[int], rows: int) -> None:
    """Make the bench population's activity rows, unless a database kept from an earlier run has them already."""
    if Activity.objects.filter(member__user__email__endswith=f"@{DOMAIN}").count() >= rows:
        return
    today = timezone.localdate()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(PG_ACTIVITY, {"ids": member_ids, "today": today, "rows": rows, "every": QUIET_EVERY})
            # What autovacuum does to a live table soon after a bulk load (insert-triggered since PostgreSQL 13):
            # hint bits and the visibility map set, so the job is timed on the steady state, not on the first
            # reader's one-off cost of a freshly loaded table.
            cursor.execute("VACUUM ANALYZE community_activity")
        return
    # Elsewhere (SQLite): the same shape through bulk_create, fine at small --scale.
    count = len(member_ids)
    batch = []
    for g in range(rows):
        index = g % count
        off = 15 + ((g // count) * 7 + g % 5) % 70 if index % QUIET_EVERY == 0 else ((g // count) * 37 + index) % 90
        day = today - timedelta(days=off)
        moment = timezone.make_aware(timezone.datetime(day.year, day.month, day.day, 12))
        batch.append(Activity(member_id=member_ids[index], verb="checked_in", occurred_at=moment, local_date=day))
        if len(batch) >= BATCH:
            Activity.objects.bulk_create(batch)
            batch = []
    Activity.objects.bulk_create(batch)


def quiet_members_job(context: Context) -> Iterator[Figure]:
    from engage.models import JobRun
    from engage.services import retention

    member_ids = _members(context.size(MEMBERS))
    _activities(member_ids, context.size(ACTIVITY_ROWS))
    FollowUpTask.objects.filter(kind="member_quiet").delete()
    JobRun.objects.filter(job="quiet_members").delete()
    today = timezone.localdate()

    started = time.perf_counter()
    found = retention.quiet_members(today=today, window_days=90, min_active_days=5, silent_days=14)
    yield Figure("engage.quiet_members.query", time.perf_counter() - started, "s")

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = retention.job_run(
            job="quiet_members", day=today, work=lambda: retention.quiet_members_process(today=today)
        )
        elapsed = time.perf_counter() - started
    yield Figure("engage.quiet_members.job", elapsed, "s")
    # Set-based: the same handful of statements for 30 quiet members or 3,000 (bulk inserts of 5,000 rows).
    yield Figure("engage.quiet_members.job_queries", len(queries), "queries")
    yield Figure("engage.quiet_members.found", len(found), "members")
    yield Figure("engage.quiet_members.tasks", result.run.summary.get("new_tasks", 0), "tasks")

    filed = FollowUpTask.objects.filter(kind="member_quiet").count()
    started = time.perf_counter()
    again = retention.job_run(job="quiet_members", day=today, work=lambda: retention.quiet_members_process(today=today))
    yield Figure("engage.quiet_members.rerun", time.perf_counter() - started, "s")
    assert not again.ran and FollowUpTask.objects.filter(kind="member_quiet").count() == filed  # a no-op


def message_fan_out(context: Context) -> Iterator[Figure]:
    from engage.models import OperatorMessage
    from engage.services import messages

    member_ids = _members(context.size(FAN_OUT))
    message = messages.message_create(actor=None, subject="Bench fan-out", body="Hello everyone.")
    # Reach exactly the bench population: its members get a tag of their own.
    from members.models import Tag

    tag, _created = Tag.objects.get_or_create(name="bench-fan-out")
    Member.tags.through.objects.filter(tag=tag).delete()
    Member.tags.through.objects.bulk_create(
        [Member.tags.through(member_id=member_id, tag_id=tag.pk) for member_id in member_ids], batch_size=BATCH
    )
    message.tags.set([tag])
    started = time.perf_counter()
    sent = messages.message_send(message=message, actor=None)
    elapsed = time.perf_counter() - started
    assert OperatorMessage.objects.get(pk=sent.pk).recipients_count == len(member_ids)
    yield Figure("engage.fan_out.seconds", elapsed, "s")
    yield Figure("engage.fan_out.rate", len(member_ids) / elapsed if elapsed else 0.0, "notifications/s")


BENCHMARKS = (
    Benchmark("engage.quiet_members", quiet_members_job),
    Benchmark("engage.fan_out", message_fan_out),
)
