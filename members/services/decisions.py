"""Review decisions: status changes with capacity and quotas enforced under a lock on the round, waitlist
promotion when a place frees up, decision messages from operator-editable templates, every change audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community import domain_events
from community.errors import ServiceError
from community.services import audit_record, notify, record_activity
from members.models import Application, DecisionTemplate, Interview, Member, Round, RoundQuota
from members.selectors import BEST_FIRST

S = Application.Status
ALLOWED: dict[str, set[str]] = {
    S.SUBMITTED: {S.SCREENING, S.INTERVIEW, S.ACCEPTED, S.WAITLISTED, S.REJECTED, S.WITHDRAWN},
    S.SCREENING: {S.INTERVIEW, S.ACCEPTED, S.WAITLISTED, S.REJECTED, S.WITHDRAWN},
    S.INTERVIEW: {S.SCREENING, S.ACCEPTED, S.WAITLISTED, S.REJECTED, S.WITHDRAWN},
    S.WAITLISTED: {S.INTERVIEW, S.ACCEPTED, S.REJECTED, S.WITHDRAWN},
    S.ACCEPTED: {S.REJECTED, S.WITHDRAWN},
    S.REJECTED: set(),
    S.WITHDRAWN: set(),
}
STAGE_FOR = {
    S.SCREENING: Application.Stage.SCREENED,
    S.INTERVIEW: Application.Stage.INTERVIEWED,
    S.ACCEPTED: Application.Stage.ACCEPTED,
}
DECIDED = {S.ACCEPTED, S.WAITLISTED, S.REJECTED}

# Used when an operator has not written a template for a decision and language; rendered in the member's language.
DEFAULT_SUBJECTS = {
    DecisionTemplate.Kind.ACCEPTED: gettext_lazy("Welcome to the core-user program, {{ name }}!"),
    DecisionTemplate.Kind.WAITLISTED: gettext_lazy("You are on the waitlist for {{ round }}"),
    DecisionTemplate.Kind.REJECTED: gettext_lazy("About your application to {{ round }}"),
}
DEFAULT_BODIES = {
    DecisionTemplate.Kind.ACCEPTED: gettext_lazy(
        "Hi {{ name }}, you are in: welcome to {{ round }}. You are now one of the core users who shape the product "
        "with us. Your portal is ready: introduce yourself, tell us what you think and join the next event."
    ),
    DecisionTemplate.Kind.WAITLISTED: gettext_lazy(
        "Hi {{ name }}, thank you for applying to {{ round }}. All places are taken for now, so you are on the "
        "waitlist: as soon as a place frees up we will let you know."
    ),
    DecisionTemplate.Kind.REJECTED: gettext_lazy(
        "Hi {{ name }}, thank you for applying to {{ round }} and for the time you took. This time we could not "
        "offer you a place ({{ reason }}). We would be glad to hear from you in a future round, and the product "
        "team keeps listening to your feedback."
    ),
}


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def _render(text: str, context: dict[str, Any]) -> str:
    return Template(text).render(Context(context, autoescape=False)).strip()


def decision_message(*, application: Application, kind: str) -> Message:
    """The decision message in the applicant's language: the operator's template, else the built-in wording."""
    member = application.member
    language = member.locale
    template = DecisionTemplate.objects.filter(kind=kind, language=language).first()
    with translation.override(language):
        context = {
            "name": member.display_name,
            "round": application.round.name,
            "reason": str(Application.Reason(application.decision_reason).label) if application.decision_reason else "",
            "note": application.decision_note,
        }
        if template is not None:
            return Message(_render(template.subject, context), _render(template.body, context))
        return Message(_render(str(DEFAULT_SUBJECTS[kind]), context), _render(str(DEFAULT_BODIES[kind]), context))


def _quota_full(*, round: Round, segment: str) -> RoundQuota | None:
    if not segment:
        return None
    quota = RoundQuota.objects.filter(round=round, segment=segment).first()
    if quota is None:
        return None
    taken = Application.objects.filter(round=round, status=S.ACCEPTED, segment=segment).count()
    return quota if taken >= quota.places else None


def _capacity_check(*, round: Round, application: Application) -> None:
    accepted = Application.objects.filter(round=round, status=S.ACCEPTED).count()
    if accepted >= round.capacity:
        raise ServiceError(
            _(
                "The round is full: all %(capacity)s places are taken. Waitlist the application, or raise the "
                "round's capacity first."
            )
            % {"capacity": round.capacity},
            field="status",
            code="capacity",
        )
    quota = _quota_full(round=round, segment=application.segment)
    if quota is not None:
        raise ServiceError(
            _("The quota for segment “%(segment)s” is full (%(places)s places).")
            % {"segment": quota.segment, "places": quota.places},
            field="status",
            code="quota",
        )


def _apply(
    *, round: Round, application: Application, status: str, actor: Any, reason: str, note: str, now: datetime
) -> Application:
    """Change the status of a locked application in a locked round."""
    before = {"status": application.status, "decision_reason": application.decision_reason}
    if status not in ALLOWED[application.status]:
        raise ServiceError(
            _("An application that is “%(current)s” cannot become “%(new)s”.")
            % {"current": application.get_status_display(), "new": S(status).label},
            field="status",
            code="transition",
        )
    if status == S.ACCEPTED:
        _capacity_check(round=round, application=application)
    if status == S.REJECTED and not reason:
        raise ServiceError(_("Choose a reason for the rejection."), field="reason")
    if reason and reason not in Application.Reason.values:
        raise ServiceError(_("Unknown reason."), field="reason")
    previous = application.status
    application.status = status
    application.stage = max(application.stage, STAGE_FOR.get(status, application.stage))
    if status in DECIDED:
        application.decided_at = now
        application.decided_by = actor if getattr(actor, "is_authenticated", False) else None
        application.decision_reason = reason
        application.decision_note = note
    application.save(update_fields=["status", "stage", "decided_at", "decided_by", "decision_reason", "decision_note"])
    audit_record(
        actor=actor,
        action=f"application.{status}",
        obj=application,
        before=before,
        after={"status": status, "decision_reason": reason, "note": note},
    )
    member = application.member
    if status in DECIDED:
        message = decision_message(application=application, kind=status)
        notify(
            member=member,
            kind="application_decision",
            context={"subject": message.subject, "body": message.body, "decision": status, "name": member.display_name},
            url=reverse("members:my_applications"),
        )
    if status == S.ACCEPTED:
        if member.status == Member.Status.LEFT:  # a former member accepted again is back in the program
            Member.objects.filter(pk=member.pk).update(status=Member.Status.ACTIVE, left_at=None)
        record_activity(
            member=member,
            verb="application_accepted",
            target=application,
            data={"round": round.slug},
            dedupe_key=f"application_accepted:{application.pk}",
        )
        domain_events.publish(
            "member.accepted",
            {"member_id": member.pk, "application_id": application.pk, "round_id": round.pk, "at": now.isoformat()},
        )
    if previous == S.ACCEPTED:
        _waitlist_promote(round=round, actor=actor, now=now)
    return application


def _lock(application_id: int) -> tuple[Round, Application]:
    # The round row is the lock every decision in the round takes first: counts of accepted places cannot race.
    round_id = Application.objects.values_list("round_id", flat=True).get(pk=application_id)
    round = Round.objects.select_for_update().get(pk=round_id)
    application = (
        Application.objects.select_for_update(of=("self",))
        .select_related("member__user", "round")
        .get(pk=application_id)
    )
    return round, application


def application_decide(
    *, application: Application, status: str, actor: Any, reason: str = "", note: str = "", now: datetime | None = None
) -> Application:
    """Move an application to `status` (screening, interview, accepted, waitlisted, rejected, withdrawn).

    Accepting past the round's capacity or a segment's quota is refused; taking an accepted application back
    frees its place for the best-scoring waitlisted applicant.
    """
    now = now or timezone.now()
    with transaction.atomic():
        round, locked = _lock(application.pk)
        return _apply(round=round, application=locked, status=status, actor=actor, reason=reason, note=note, now=now)


def applications_decide_bulk(
    *, application_ids: list[int], status: str, actor: Any, reason: str = "", note: str = ""
) -> tuple[int, list[str]]:
    """Decide many applications, best score first; each succeeds or is refused on its own. (done, refusals)."""
    ordered = list(
        Application.objects.filter(pk__in=application_ids)
        .order_by(BEST_FIRST, "submitted_at", "id")
        .values_list("pk", flat=True)
    )
    done, refusals = 0, []
    for pk in ordered:
        try:
            application_decide(application=Application(pk=pk), status=status, actor=actor, reason=reason, note=note)
            done += 1
        except ServiceError as error:
            refusals.append(error.message)
    return done, refusals


def _waitlist_promote(*, round: Round, actor: Any, now: datetime) -> list[Application]:
    promoted: list[Application] = []
    skipped: set[int] = set()
    while Application.objects.filter(round=round, status=S.ACCEPTED).count() < round.capacity:
        candidate = (
            Application.objects.select_for_update(of=("self",))
            .select_related("member__user", "round")
            .filter(round=round, status=S.WAITLISTED)
            .exclude(pk__in=skipped)
            .order_by(BEST_FIRST, "submitted_at", "id")
            .first()
        )
        if candidate is None:
            break
        if _quota_full(round=round, segment=candidate.segment) is not None:
            skipped.add(candidate.pk)
            continue
        promoted.append(
            _apply(
                round=round,
                application=candidate,
                status=S.ACCEPTED,
                actor=actor,
                reason="",
                note=_("Promoted from the waitlist."),
                now=now,
            )
        )
    return promoted


def round_waitlist_promote(*, round: Round, actor: Any, now: datetime | None = None) -> list[Application]:
    """Fill free places (e.g. after the capacity was raised) from the waitlist, best score first."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round.pk)
        return _waitlist_promote(round=locked, actor=actor, now=now)


def round_auto_accept(*, round_id: int) -> int:
    """Accept applications scoring at least the round's threshold while places remain. Returns how many."""
    round = Round.objects.get(pk=round_id)
    if round.auto_accept_threshold is None:
        return 0
    candidates = list(
        Application.objects.filter(
            round=round,
            status__in=[S.SUBMITTED, S.SCREENING],
            scorecard__knocked_out=False,
            scorecard__total__gte=round.auto_accept_threshold,
        )
        .order_by(BEST_FIRST, "submitted_at", "id")
        .values_list("pk", flat=True)
    )
    accepted = 0
    for pk in candidates:
        try:
            application_decide(
                application=Application(pk=pk), status=S.ACCEPTED, actor=None, note=_("Accepted automatically.")
            )
            accepted += 1
        except ServiceError as error:
            if error.code == "capacity":
                break
    return accepted


def interview_schedule(
    *,
    application: Application,
    scheduled_at: datetime,
    actor: Any,
    location: str = "",
    interviewer: Any | None = None,
    notes: str = "",
) -> Interview:
    """Book an interview and move the application to the interview stage; the applicant is told when and where."""
    with transaction.atomic():
        round, locked = _lock(application.pk)
        if locked.status != S.INTERVIEW:
            _apply(
                round=round, application=locked, status=S.INTERVIEW, actor=actor, reason="", note="", now=timezone.now()
            )
        interview = Interview.objects.create(
            application=locked, scheduled_at=scheduled_at, location=location, interviewer=interviewer, notes=notes
        )
        audit_record(
            actor=actor,
            action="application.interview_schedule",
            obj=locked,
            after={"interview": interview.pk, "scheduled_at": scheduled_at.isoformat(), "location": location},
        )
        notify(
            member=locked.member,
            kind="application_interview",
            context={
                "name": locked.member.display_name,
                "round": round.name,
                "when": f"{scheduled_at.astimezone(ZoneInfo(locked.member.time_zone)):%Y-%m-%d %H:%M}"
                f" ({locked.member.time_zone})",
                "location": location,
            },
            url=reverse("members:my_applications"),
        )
    return interview
