"""Onboarding: the checklist a new member works through, each step recorded once on the activity stream.

Steps are read from what the member has done (a bio on the profile, a check-in, a feedback, an event
registration) and recorded as the activity `onboarding_step_completed` (data: step, dedupe key per member and
step); the whole list as `onboarding_completed`. Point rules can reward either verb. Recording happens when the
member opens the community hub and in the daily onboarding job, never inside another app's write path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.utils import timezone

from community.models import Activity
from community.services import ActivityInput, activities_record_bulk
from members.models import Member

PROFILE, CHECK_IN, FEEDBACK, EVENT = "profile", "check_in", "feedback", "event"
STEPS = (PROFILE, CHECK_IN, FEEDBACK, EVENT)
STEP_FOR_VERB = {"checked_in": CHECK_IN, "feedback_submitted": FEEDBACK, "event_registered": EVENT}
STEP_VERB = "onboarding_step_completed"
DONE_VERB = "onboarding_completed"
NEW_MEMBER_DAYS = 60


def step_key(member_id: int, step: str) -> str:
    return f"onboarding:{step}:{member_id}"


def done_key(member_id: int) -> str:
    return f"onboarding_completed:{member_id}"


def steps_recorded(*, member_ids: Sequence[int]) -> dict[int, set[str]]:
    done: dict[int, set[str]] = {member_id: set() for member_id in member_ids}
    rows = Activity.objects.filter(member_id__in=list(member_ids), verb=STEP_VERB).values_list("member_id", "data")
    for member_id, data in rows:
        done[member_id].add((data or {}).get("step", ""))
    return done


def steps_reached(*, members: Sequence[Member]) -> dict[int, set[str]]:
    """The steps each member has done, read from their profile and the activity stream (one query)."""
    reached: dict[int, set[str]] = {member.pk: ({PROFILE} if member.bio.strip() else set()) for member in members}
    rows = (
        Activity.objects.filter(member_id__in=list(reached), verb__in=list(STEP_FOR_VERB))
        .values_list("member_id", "verb")
        .distinct()
    )
    for member_id, verb in rows:
        reached[member_id].add(STEP_FOR_VERB[verb])
    return reached


def onboarding_sync(*, members: Sequence[Member], now: datetime | None = None) -> int:
    """Record the steps these members have reached and not yet recorded (and completion). Returns how many."""
    now = now or timezone.now()
    by_id = {member.pk: member for member in members}
    reached = steps_reached(members=members)
    recorded = steps_recorded(member_ids=list(by_id))
    entries = [
        ActivityInput(
            member=by_id[member_id],
            verb=STEP_VERB,
            occurred_at=now,
            data={"step": step},
            dedupe_key=step_key(member_id, step),
        )
        for member_id, steps in reached.items()
        for step in STEPS
        if step in steps and step not in recorded[member_id]
    ]
    entries += [
        ActivityInput(member=by_id[member_id], verb=DONE_VERB, occurred_at=now, dedupe_key=done_key(member_id))
        for member_id, steps in reached.items()
        if set(STEPS) <= steps and not set(STEPS) <= recorded[member_id]
    ]
    if entries:
        activities_record_bulk(entries=entries)
    return len(entries)


def onboarding_sync_new_members(*, now: datetime | None = None) -> dict[str, int]:
    """Daily job: record the steps of members who joined in the last 60 days."""
    now = now or timezone.now()
    members = list(
        Member.objects.filter(status=Member.Status.ACTIVE, joined_at__gte=now - timedelta(days=NEW_MEMBER_DAYS))
    )
    recorded = 0
    for start in range(0, len(members), 2000):
        recorded += onboarding_sync(members=members[start : start + 2000], now=now)
    return {"members": len(members), "steps_recorded": recorded}
