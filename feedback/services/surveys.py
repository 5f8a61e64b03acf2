"""Answering surveys: once per member (a database constraint), only while open and only when targeted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import audit_record, model_snapshot, record_activity
from feedback.models import Survey, SurveyAnswer, SurveyQuestion, SurveyResponse
from members.models import Member

TEXT_MAX_LENGTH = 5000
SCALES = {SurveyQuestion.Kind.NPS: (0, 10), SurveyQuestion.Kind.CSAT: (1, 5)}


def survey_targets_member(*, survey: Survey, member: Member) -> bool:
    segments = survey.target_segments or []
    tag_ids = {tag.pk for tag in survey.target_tags.all()}
    if not segments and not tag_ids:
        return True
    if member.segment in segments:
        return True
    return bool(tag_ids and member.tags.filter(pk__in=tag_ids).exists())


def _answer_for(question: SurveyQuestion, raw: Any) -> SurveyAnswer | None:
    field = f"q{question.pk}"
    empty = raw is None or (isinstance(raw, str) and not raw.strip())
    if empty:
        if question.required:
            raise ServiceError(_("Please answer this question."), field=field)
        return None
    if question.kind in SCALES:
        low, high = SCALES[question.kind]
        try:
            number = int(str(raw).strip())
        except (TypeError, ValueError):
            number = None
        if number is None or not low <= number <= high:
            raise ServiceError(_("Choose a score from %(low)d to %(high)d.") % {"low": low, "high": high}, field=field)
        return SurveyAnswer(question=question, number=number)
    text = str(raw).strip()
    if question.kind == SurveyQuestion.Kind.CHOICE:
        if text not in [str(choice) for choice in question.choices or []]:
            raise ServiceError(_("Choose one of the options."), field=field)
        return SurveyAnswer(question=question, text=text)
    if len(text) > TEXT_MAX_LENGTH:
        raise ServiceError(_("Keep the answer to 5000 characters."), field=field)
    return SurveyAnswer(question=question, text=text)


def survey_respond(*, survey: Survey, member: Member, answers: Mapping[Any, Any]) -> SurveyResponse:
    """Record a member's answers; `answers` maps question ids (int or "q<id>") to values."""
    if member.status != Member.Status.ACTIVE:
        raise ServiceError(_("Only active members of the program can answer surveys."), code="not_active")
    now = timezone.now()
    if not survey.is_open_at(now):
        raise ServiceError(_("This survey is not open."), code="closed")
    if not survey_targets_member(survey=survey, member=member):
        raise ServiceError(_("This survey is not for you."), code="not_targeted")
    by_id: dict[int, Any] = {}
    for key, value in answers.items():
        text_key = str(key)
        try:
            by_id[int(text_key[1:] if text_key.startswith("q") else text_key)] = value
        except ValueError:
            continue
    questions = list(survey.questions.all())
    known = {question.pk for question in questions}
    if set(by_id) - known:
        raise ServiceError(_("Some answers are for questions this survey does not have."))
    rows = [row for row in (_answer_for(question, by_id.get(question.pk)) for question in questions) if row]
    if not rows:
        raise ServiceError(_("Answer at least one question."))
    with transaction.atomic():
        try:
            with transaction.atomic():
                response = SurveyResponse.objects.create(survey=survey, member=member, submitted_at=now)
        except IntegrityError:
            raise ServiceError(_("You have answered this survey already."), code="duplicate") from None
        for row in rows:
            row.response = response
        SurveyAnswer.objects.bulk_create(rows)
        audit_record(
            actor=member.user,
            action="feedback.survey_respond",
            obj=response,
            after={**model_snapshot(response), "answers": len(rows)},
        )
        record_activity(
            member=member,
            verb="survey_answered",
            target=survey,
            data={"survey": survey.title},
            occurred_at=now,
            dedupe_key=f"survey_answered:{survey.pk}:{member.pk}",
        )
    return response
