"""Scheduled retention jobs: quiet members, leavers, unanswered questions, the weekly digest.

Every job runs through `job_run`, which logs a `JobRun` per (job, day) and makes a second run of the same day a
no-op; the follow-up tasks and notifications a job makes carry dedupe keys as well, so even a run that died
half-way and is retried files nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community.models import FollowUpTask
from community.notifications import notify_bulk
from community.services import audit_record, follow_up_task_file
from engage.models import Announcement, Event, JobRun, Question, RetentionSettings
from engage.services import onboarding
from members.models import Member

logger = logging.getLogger(__name__)


def retention_settings() -> RetentionSettings:
    settings_row, _created = RetentionSettings.objects.get_or_create(pk=1)
    return settings_row


@dataclass(frozen=True)
class JobResult:
    run: JobRun
    ran: bool  # False when the day's run had already finished


def job_run(*, job: str, day: date, work: Callable[[], dict[str, Any]]) -> JobResult:
    """Run `work` once for (job, day), logging the run. A repeated call for a finished day does nothing."""
    JobRun.objects.get_or_create(job=job, run_date=day)
    with transaction.atomic():
        run = JobRun.objects.select_for_update().get(job=job, run_date=day)  # a parallel run waits here
        if run.status == JobRun.Status.DONE:
            return JobResult(run=run, ran=False)
        if run.finished_at is not None:  # a failed earlier attempt
            run.attempts += 1
        try:
            with transaction.atomic():
                summary = work()
        except Exception as error:
            run.status = JobRun.Status.FAILED
            run.finished_at = timezone.now()
            run.summary = {"error": repr(error)[:500]}
            run.save()
            logger.exception("Job %s for %s failed", job, day)
            return JobResult(run=run, ran=True)
        run.status = JobRun.Status.DONE
        run.finished_at = timezone.now()
        run.summary = summary
        run.save()
    logger.info("Job %s for %s: %s", job, day, summary)
    return JobResult(run=run, ran=True)


# --- quiet members -----------------------------------------------------------------------------------------

# Driven from the members, through the (member, local_date) index only: first each member's last active day up to
# today (one backward index probe per member, LIMIT 1), which keeps the few whose last day falls inside the window
# but before the silent period; then, for those candidates alone, the distinct active days of the window. So the
# cost follows the members and the quiet-ish candidates, never the number of rows in the recent days (a range scan
# of the recent days reads nearly every heap page of the stream, since members' rows are interleaved).
QUIET_SQL = """
WITH candidates AS MATERIALIZED (
    SELECT m.id, l.last_day
    FROM members_member m
    CROSS JOIN LATERAL (
        SELECT a.local_date AS last_day FROM community_activity a
        WHERE a.member_id = m.id AND a.local_date <= %(today)s
        ORDER BY a.local_date DESC LIMIT 1
    ) l
    WHERE m.status = 'active' AND l.last_day >= %(window_start)s AND l.last_day < %(silent_since)s
)
SELECT c.id, c.last_day
FROM candidates c
WHERE (
    SELECT COUNT(DISTINCT a.local_date) FROM community_activity a
    WHERE a.member_id = c.id AND a.local_date >= %(window_start)s AND a.local_date < %(silent_since)s
) >= %(min_days)s
ORDER BY c.id
"""


# SQLite (a laptop without PostgreSQL) has no LATERAL: the same answer from one grouped pass.
QUIET_SQL_PORTABLE = """
SELECT a.member_id, MAX(a.local_date) AS last_day
FROM community_activity a
JOIN members_member m ON m.id = a.member_id
WHERE a.local_date >= %(window_start)s AND a.local_date <= %(today)s AND m.status = 'active'
GROUP BY a.member_id
HAVING MAX(a.local_date) < %(silent_since)s AND COUNT(DISTINCT a.local_date) >= %(min_days)s
ORDER BY a.member_id
"""


def quiet_members(*, today: date, window_days: int, min_active_days: int, silent_days: int) -> list[tuple[int, date]]:
    """(member id, last active day) of active members who were active on at least `min_active_days` days of
    the last `window_days` but on none of the last `silent_days`. One query."""
    params = {
        "window_start": today - timedelta(days=window_days),
        "today": today,
        "silent_since": today - timedelta(days=silent_days - 1),
        "min_days": min_active_days,
    }
    with connection.cursor() as cursor:
        cursor.execute(QUIET_SQL if connection.vendor == "postgresql" else QUIET_SQL_PORTABLE, params)
        return [(member_id, _as_date(last_day)) for member_id, last_day in cursor.fetchall()]


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def quiet_key(member_id: int, last_day: date) -> str:
    # Keyed by the last active day: one task per quiet spell, however many days the job runs during it.
    return f"member_quiet:{member_id}:{last_day.isoformat()}"


# Rows per INSERT when filing the quiet members' tasks and nudges: a population's worth in a statement or two.
QUIET_BATCH = 5000


def quiet_members_process(*, today: date) -> dict[str, Any]:
    """File a `member_quiet` task and send a `member_nudge` to each quiet member not filed for this quiet spell.

    Set-based: the grouped query, one read of the keys filed before, one read of the members, the tasks in bulk
    (one INSERT per QUIET_BATCH), one audit record for the batch and one bulk fan-out, however many are quiet.
    Runs inside `job_run`, which holds the (job, day) row locked, so no other run files the same keys meanwhile.
    """
    cfg = retention_settings()
    found = quiet_members(
        today=today,
        window_days=cfg.quiet_window_days,
        min_active_days=cfg.quiet_min_active_days,
        silent_days=cfg.quiet_silent_days,
    )
    keys = {quiet_key(member_id, last_day): (member_id, last_day) for member_id, last_day in found}
    filed_before = set(FollowUpTask.objects.filter(dedupe_key__in=list(keys)).values_list("dedupe_key", flat=True))
    fresh = {key: value for key, value in keys.items() if key not in filed_before}
    members = Member.objects.select_related("user").in_bulk([member_id for member_id, _day in fresh.values()])
    now = timezone.now()
    tasks = [
        FollowUpTask(
            kind="member_quiet",
            title=(_("%(name)s has gone quiet") % {"name": members[member_id].display_name})[:200],
            detail=_("Last active on %(day)s.") % {"day": last_day.isoformat()},
            member_id=member_id,
            url=f"/admin/members/member/{member_id}/change/",
            dedupe_key=key,
            created_at=now,
        )
        for key, (member_id, last_day) in fresh.items()
    ]
    FollowUpTask.objects.bulk_create(tasks, batch_size=QUIET_BATCH)
    nudged = [members[task.member_id] for task in tasks]
    if tasks:
        audit_record(
            actor=None,
            action="follow_up_task.file_bulk",
            after={"kind": "member_quiet", "day": today.isoformat(), "count": len(tasks)},
        )
    notify_bulk(members=nudged, kind="member_nudge", url="/", batch_size=QUIET_BATCH)
    return {"quiet": len(found), "new_tasks": len(nudged)}


# --- leavers, unanswered questions --------------------------------------------------------------------------


def leavers_process(*, now: datetime, days: int = 7) -> dict[str, Any]:
    """A follow-up task to ask each recent leaver why."""
    filed = 0
    for member in Member.objects.filter(status=Member.Status.LEFT, left_at__gte=now - timedelta(days=days)):
        _task, created = follow_up_task_file(
            kind="member_left",
            title=_("Ask %(name)s why they left") % {"name": member.display_name},
            member=member,
            url=f"/admin/members/member/{member.pk}/change/",
            dedupe_key=f"member_left:{member.pk}",
        )
        filed += created
    return {"new_tasks": filed}


def unanswered_questions_process(*, now: datetime) -> dict[str, Any]:
    """Flag questions unanswered after N hours and alert the operators with a task each."""
    cfg = retention_settings()
    overdue = Question.objects.select_related("member").filter(
        answered_at__isnull=True,
        hidden_at__isnull=True,
        flagged_at__isnull=True,
        created_at__lte=now - timedelta(hours=cfg.unanswered_hours),
    )
    flagged = 0
    for question in overdue:
        if not Question.objects.filter(pk=question.pk, flagged_at__isnull=True).update(flagged_at=now):
            continue
        follow_up_task_file(
            kind="question_unanswered",
            title=_("Unanswered question: %(title)s") % {"title": question.title},
            member=question.member,
            target=question,
            url=f"/content/questions/{question.pk}/",
            dedupe_key=f"question_unanswered:{question.pk}",
        )
        flagged += 1
    return {"flagged": flagged}


# --- weekly digest ----------------------------------------------------------------------------------------


def weekly_digest_process(*, now: datetime) -> dict[str, Any]:
    """Tell every active member what happened in the community this week (one bulk fan-out)."""
    week_ago = now - timedelta(days=7)
    upcoming = list(
        Event.objects.filter(status=Event.Status.PUBLISHED, starts_at__gt=now, starts_at__lte=now + timedelta(days=14))
        .order_by("starts_at")
        .values_list("title", flat=True)[:5]
    )
    announcements = list(
        Announcement.objects.filter(is_published=True, published_at__gte=week_ago).values_list("title", flat=True)[:5]
    )
    questions = Question.objects.filter(created_at__gte=week_ago, hidden_at__isnull=True).count()
    context = {
        "events": len(upcoming),
        "announcements": len(announcements),
        "questions": questions,
        "highlights": [*upcoming, *announcements],
    }
    members = list(Member.objects.filter(status=Member.Status.ACTIVE).select_related("user"))
    sent = notify_bulk(members=members, kind="community_digest", context=context, url="/content/")
    return {"members": sent, **{key: value for key, value in context.items() if key != "highlights"}}


def run_daily(*, job: str, now: datetime | None = None) -> JobResult:
    """Entry point of the scheduled tasks: the job for today (program time zone)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    works: dict[str, Callable[[], dict[str, Any]]] = {
        "quiet_members": lambda: quiet_members_process(today=today),
        "leavers": lambda: leavers_process(now=now),
        "unanswered_questions": lambda: unanswered_questions_process(now=now),
        "weekly_digest": lambda: weekly_digest_process(now=now),
        "onboarding": lambda: onboarding.onboarding_sync_new_members(now=now),
    }
    return job_run(job=job, day=today, work=works[job])
