"""Applying to a recruitment round: answers checked against the questionnaire, one active application per person
per round (a database constraint, so two tabs or a retried API call still make one), account creation for
applicants who arrive through an integration."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import audit_record, model_snapshot, notify, record_activity
from members.models import Answer, Application, Member, Question, Round, User
from members.services.accounts import member_create

SCORE_DEBOUNCE_SECONDS = 30


@dataclass(frozen=True)
class SubmitResult:
    application: Application
    created: bool


@dataclass(frozen=True)
class CleanAnswer:
    question_id: int
    choice_ids: list[int]
    number: Decimal | None
    text: str

    @property
    def empty(self) -> bool:
        return not self.choice_ids and self.number is None and not self.text


def answer_field_name(question: Question) -> str:
    return f"q_{question.pk}"


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | set):
        return list(value)
    return [value]


def answers_clean(
    *, questions: Iterable[Question], raw: Mapping[int, Any]
) -> tuple[dict[int, CleanAnswer], dict[str, str]]:
    """Check raw answers (question id → value) against the questions; returns (answers, errors by field name).

    `questions` must have their choices prefetched. Values: a choice id for single choice, a list of ids for
    multiple choice, a number for number and scale, a string for text.
    """
    cleaned: dict[int, CleanAnswer] = {}
    errors: dict[str, str] = {}
    for question in questions:
        name = answer_field_name(question)
        value = raw.get(question.pk)
        choice_ids: list[int] = []
        number: Decimal | None = None
        text = ""
        try:
            if question.has_choices:
                allowed = {choice.pk for choice in question.choices.all()}
                try:
                    choice_ids = sorted({int(item) for item in _as_list(value)})
                except (TypeError, ValueError):
                    raise ValidationError(_("Choose from the options given.")) from None
                if any(pk not in allowed for pk in choice_ids):
                    raise ValidationError(_("Choose from the options given."))
                if question.kind == Question.Kind.SINGLE and len(choice_ids) > 1:
                    raise ValidationError(_("Choose one option."))
            elif question.kind in (Question.Kind.NUMBER, Question.Kind.SCALE):
                if value not in (None, ""):
                    try:
                        number = Decimal(str(value))
                    except InvalidOperation:
                        raise ValidationError(_("Enter a number.")) from None
                    if not number.is_finite() or abs(number) >= Decimal("1e10"):
                        raise ValidationError(_("Enter a number."))
                    if question.kind == Question.Kind.SCALE and (
                        number != number.to_integral_value() or not 1 <= number <= question.scale_max
                    ):
                        raise ValidationError(
                            _("Choose a whole number from 1 to %(max)s.") % {"max": question.scale_max}
                        )
            else:
                text = str(value or "").strip()
                limit = 200 if question.kind == Question.Kind.SHORT_TEXT else 5000
                if len(text) > limit:
                    raise ValidationError(_("Keep it under %(limit)s characters.") % {"limit": limit})
        except ValidationError as error:
            errors[name] = error.messages[0]
            continue
        answer = CleanAnswer(question_id=question.pk, choice_ids=choice_ids, number=number, text=text)
        if answer.empty:
            if question.required:
                errors[name] = _("This question needs an answer.")
            continue
        cleaned[question.pk] = answer
    return cleaned, errors


def round_questions(*, round: Round) -> list[Question]:
    return list(Question.objects.filter(round=round).prefetch_related("choices").order_by("position", "id"))


def _segment_for(questions: list[Question], answers: dict[int, CleanAnswer]) -> str:
    # The first chosen option that names a segment decides it (e.g. "I am a student" → students).
    for question in questions:
        answer = answers.get(question.pk)
        if answer is None or not answer.choice_ids:
            continue
        for choice in question.choices.all():
            if choice.pk in answer.choice_ids and choice.segment:
                return choice.segment
    return ""


def active_application(*, round: Round, member: Member) -> Application | None:
    return (
        Application.objects.filter(round=round, member=member)
        .exclude(status=Application.Status.WITHDRAWN)
        .select_related("round")
        .first()
    )


def application_submit(
    *,
    round: Round,
    member: Member,
    answers: Mapping[int, Any],
    actor: Any,
    language: str | None = None,
    source: str = Application.Source.PORTAL,
    now: Any | None = None,
) -> SubmitResult:
    """Apply `member` to `round`. Submitting again while an application is active returns that one (created=False).

    Invalid answers raise a ValidationError keyed by answer field (`q_<question id>`).
    """
    now = now or timezone.now()
    if not round.is_open(now):
        raise ServiceError(_("This round is not open for applications."), field="round", code="closed")
    if member.status == Member.Status.REMOVED:
        raise ServiceError(_("This account may not apply."), code="removed")
    existing = active_application(round=round, member=member)
    if existing is not None:
        return SubmitResult(existing, False)
    questions = round_questions(round=round)
    cleaned, errors = answers_clean(questions=questions, raw=answers)
    if errors:
        raise ValidationError({name: [message] for name, message in errors.items()})
    application = Application(
        round=round,
        member=member,
        segment=_segment_for(questions, cleaned),
        language=language or member.locale,
        source=source,
        submitted_at=now,
    )
    try:
        with transaction.atomic():
            application.save()
            Answer.objects.bulk_create(
                Answer(
                    application=application,
                    question_id=answer.question_id,
                    choice_ids=answer.choice_ids,
                    number=answer.number,
                    text=answer.text,
                )
                for answer in cleaned.values()
            )
            audit_record(actor=actor, action="application.submit", obj=application, after=model_snapshot(application))
            record_activity(
                member=member,
                verb="application_submitted",
                target=application,
                data={"round": round.slug},
                occurred_at=now,
                dedupe_key=f"application_submitted:{application.pk}",
            )
            notify(
                member=member,
                kind="application_received",
                context={"name": member.display_name, "round": round.name},
                url=reverse("members:my_applications"),
            )
    except IntegrityError:
        # Lost the race to a concurrent submission (the partial unique constraint): that one is the application.
        existing = active_application(round=round, member=member)
        if existing is None:
            raise
        return SubmitResult(existing, False)
    round_score_soon(round_id=round.pk)
    return SubmitResult(application, True)


def round_score_soon(*, round_id: int) -> None:
    """Rescore the round after commit; a burst of submissions or imports triggers one run, not one per change."""
    from members.tasks import round_score_task

    def enqueue() -> None:
        if cache.add(f"members:score-pending:{round_id}", 1, timeout=SCORE_DEBOUNCE_SECONDS * 4):
            round_score_task.apply_async(args=[round_id], countdown=SCORE_DEBOUNCE_SECONDS)

    transaction.on_commit(enqueue, robust=True)


def applicant_ensure(*, email: str, display_name: str = "", locale: str | None = None, actor: Any) -> Member:
    """The member behind an e-mail address; an applicant pushed by an integration gets an account (no password yet:
    they set one with a password reset) and a profile, through the same `member_create` as sign-up."""
    email = User.objects.normalize_email(email.strip()).lower()
    if not email:
        raise ServiceError(_("An e-mail address is required."), field="email")
    user = User.objects.filter(email__iexact=email).select_related("member").first()
    if user is not None:
        from members.services.accounts import member_ensure

        return member_ensure(user=user, actor=actor)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=None)
            EmailAddress.objects.create(user=user, email=email, verified=False, primary=True)
            return member_create(user=user, display_name=display_name, locale=locale, actor=actor, welcome=False)
    except IntegrityError:  # a concurrent call created the account first
        user = User.objects.get(email__iexact=email)
        from members.services.accounts import member_ensure

        return member_ensure(user=user, actor=actor)
