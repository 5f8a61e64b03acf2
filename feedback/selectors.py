"""Feedback reads: the lists (constant query count), an item's history, suggestions, scores, KPIs and results."""

from __future__ import annotations

import re
import statistics
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from feedback.models import (
    Attachment,
    FeedbackItem,
    FeedbackStatus,
    ModerationAction,
    Reply,
    Report,
    StatusChange,
    Subscription,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
    Vote,
)
from feedback.services.common import active_mute
from members.models import Member

SORTS = {
    "votes": ("-vote_count", "-id"),
    "impact": ("-impact_score", "-id"),
    "new": ("-created_at", "-id"),
}
SIMILAR_LIMIT = 5

# --- visibility and lists ---------------------------------------------------------------------------------


def items_visible_to(*, member: Member | None, is_operator: bool = False) -> QuerySet[FeedbackItem]:
    """Operators see everything; a member sees public feedback and their own private feedback."""
    items = FeedbackItem.objects.all()
    if is_operator:
        return items
    if member is None:
        return items.filter(visibility=FeedbackItem.Visibility.PUBLIC)
    return items.filter(Q(visibility=FeedbackItem.Visibility.PUBLIC) | Q(author_id=member.pk))


def feedback_list(
    *,
    member: Member | None,
    is_operator: bool = False,
    kind: str | None = None,
    status: str | None = None,
    area: int | None = None,
    query: str | None = None,
    sort: str = "votes",
    mine: bool = False,
    include_merged: bool = False,
) -> QuerySet[FeedbackItem]:
    """The feedback list, filtered and sorted, with everything a row shows joined in (one query per page)."""
    items = items_visible_to(member=member, is_operator=is_operator)
    if not include_merged:
        items = items.filter(merged_into__isnull=True)
    if mine and member is not None:
        items = items.filter(author_id=member.pk)
    if kind:
        items = items.filter(kind=kind)
    if status:
        items = items.filter(status__key=status)
    if area:
        items = items.filter(area_id=area)
    if query:
        items = items.filter(title__icontains=query.strip()[:100])
    items = items.select_related("status", "area", "author")
    if member is not None:
        items = items.annotate(
            has_voted=Exists(Vote.objects.filter(item=OuterRef("pk"), member_id=member.pk)),
            is_subscribed=Exists(Subscription.objects.filter(item=OuterRef("pk"), member_id=member.pk)),
        )
    else:
        items = items.annotate(has_voted=Value(False), is_subscribed=Value(False))
    return items.order_by(*SORTS.get(sort, SORTS["votes"]))


def feedback_detail(*, pk: int, member: Member | None, is_operator: bool = False) -> FeedbackItem:
    """One item the viewer may see (raises FeedbackItem.DoesNotExist otherwise: a 404)."""
    return (
        feedback_list(member=member, is_operator=is_operator, include_merged=True)
        .select_related("merged_into", "assignee")
        .get(pk=pk)
    )


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: str  # "status" or "reply"
    entry: Any


def feedback_history(*, item: FeedbackItem) -> list[HistoryEntry]:
    """Status changes and public replies, oldest first (two queries)."""
    changes = StatusChange.objects.filter(item=item).select_related("from_status", "to_status")
    replies = Reply.objects.filter(item=item).select_related("author")
    entries = [HistoryEntry(at=change.created_at, kind="status", entry=change) for change in changes]
    entries += [HistoryEntry(at=reply.created_at, kind="reply", entry=reply) for reply in replies]
    entries.sort(key=lambda entry: (entry.at, 0 if entry.kind == "status" else 1))
    return entries


def item_attachments(*, item: FeedbackItem) -> QuerySet[Attachment]:
    return Attachment.objects.filter(item=item).order_by("created_at", "id")


def attachment_visible(*, pk: int, member: Member | None, is_operator: bool) -> Attachment:
    visible = items_visible_to(member=member, is_operator=is_operator)
    return Attachment.objects.select_related("item").get(pk=pk, item__in=visible)


def status_list(*, active_only: bool = True) -> QuerySet[FeedbackStatus]:
    statuses = FeedbackStatus.objects.order_by("order", "id")
    return statuses.filter(is_active=True) if active_only else statuses


# --- suggestions while typing -----------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


def feedback_similar(*, query: str, member: Member | None, limit: int = SIMILAR_LIMIT) -> list[FeedbackItem]:
    """Existing feedback whose title resembles what the member is typing. Full-text search on PostgreSQL (prefix
    matches, ranked), a plain substring match elsewhere; merged duplicates are never suggested."""
    words = _WORD.findall((query or "").lower())[:8]
    words = [word for word in words if len(word) >= 2]
    if not words:
        return []
    visible = items_visible_to(member=member).filter(merged_into__isnull=True).select_related("status")
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = SearchVector("title", config="simple")
        search = SearchQuery(" | ".join(f"{word}:*" for word in words), config="simple", search_type="raw")
        found = list(
            visible.annotate(search=vector, rank=SearchRank(vector, search))
            .filter(search=search)
            .order_by("-rank", "-vote_count", "-id")[:limit]
        )
        if len(found) >= limit:
            return found
        # Text the simple parser keeps as one token (Chinese runs together) still matches as a substring.
        more = visible.filter(title__icontains=words[0]).exclude(pk__in=[item.pk for item in found])
        return found + list(more.order_by("-vote_count", "-id")[: limit - len(found)])
    condition = Q()
    for word in words:
        condition |= Q(title__icontains=word)
    return list(visible.filter(condition).order_by("-vote_count", "-id")[:limit])


# --- impact and contribution ------------------------------------------------------------------------------


def member_contribution_score(*, member: Member) -> int:
    """The sum of the impact of what the member submitted (duplicates merged away count on the original)."""
    total = FeedbackItem.objects.filter(author_id=member.pk, merged_into__isnull=True).aggregate(
        total=Coalesce(Sum("impact_score"), 0)
    )["total"]
    return int(total)


def member_contribution_scores(*, member_ids: Collection[int]) -> dict[int, int]:
    rows = (
        FeedbackItem.objects.filter(author_id__in=list(member_ids), merged_into__isnull=True)
        .values("author_id")
        .annotate(total=Sum("impact_score"))
    )
    return {row["author_id"]: int(row["total"] or 0) for row in rows}


# --- moderation -------------------------------------------------------------------------------------------


def member_is_muted(*, member: Member) -> bool:
    """True while a mute on the member has not ended (nor been lifted)."""
    return active_mute(member) is not None


def mute_for(*, member: Member) -> ModerationAction | None:
    return active_mute(member)


def report_queue() -> QuerySet[Report]:
    return Report.objects.filter(status=Report.Status.OPEN).select_related("reporter", "target_member", "target_type")


def reports_by_member(*, member: Member) -> QuerySet[Report]:
    return Report.objects.filter(reporter=member).select_related("target_type").order_by("-created_at", "-id")


# --- KPIs for analytics -----------------------------------------------------------------------------------


def _median_seconds(pairs: list[tuple[datetime, datetime]]) -> float | None:
    durations = [(later - earlier).total_seconds() for earlier, later in pairs if later >= earlier]
    return float(statistics.median(durations)) if durations else None


def feedback_kpis(*, start: datetime, end: datetime, member_ids: Collection[int] | None = None) -> dict:
    """Headline feedback figures for [start, end):

    - volume: items submitted in the range;
    - first_response_median_seconds: median time to the first response of items first answered in the range;
    - resolution_median_seconds: median time to resolution of items resolved (first closed) in the range;
    - acceptance_rate: of the items decided (first accepted or declined) in the range, the share accepted.
    Merged duplicates count as submitted but never as answered, resolved or decided.
    """
    items = FeedbackItem.objects.all()
    if member_ids is not None:
        items = items.filter(author_id__in=list(member_ids))
    volume = items.filter(created_at__gte=start, created_at__lt=end).count()
    originals = items.filter(merged_into__isnull=True)
    first_responses = list(
        originals.filter(first_response_at__gte=start, first_response_at__lt=end).values_list(
            "created_at", "first_response_at"
        )
    )
    resolutions = list(
        originals.filter(resolved_at__gte=start, resolved_at__lt=end).values_list("created_at", "resolved_at")
    )
    decided = originals.filter(decided_at__gte=start, decided_at__lt=end).aggregate(
        total=Count("pk"), accepted=Count("pk", filter=Q(accepted_at__isnull=False, accepted_at__lte=end))
    )
    return {
        "volume": volume,
        "first_response_median_seconds": _median_seconds(first_responses),
        "resolution_median_seconds": _median_seconds(resolutions),
        "acceptance_rate": (decided["accepted"] / decided["total"]) if decided["total"] else None,
    }


# --- surveys ----------------------------------------------------------------------------------------------


def nps_from_counts(*, promoters: int, passives: int, detractors: int) -> float | None:
    total = promoters + passives + detractors
    return round((promoters - detractors) * 100 / total, 1) if total else None


def _score_answers(kind: str, *, start: datetime | None, end: datetime | None, member_ids, survey=None):
    answers = SurveyAnswer.objects.filter(question__kind=kind, number__isnull=False)
    if survey is not None:
        answers = answers.filter(response__survey=survey)
    if start is not None:
        answers = answers.filter(response__submitted_at__gte=start)
    if end is not None:
        answers = answers.filter(response__submitted_at__lt=end)
    if member_ids is not None:
        answers = answers.filter(response__member_id__in=list(member_ids))
    return answers


def _scores(answers_nps, answers_csat) -> dict:
    nps = answers_nps.aggregate(
        promoters=Count("pk", filter=Q(number__gte=9)),
        passives=Count("pk", filter=Q(number__in=[7, 8])),
        detractors=Count("pk", filter=Q(number__lte=6)),
    )
    csat = answers_csat.aggregate(total=Count("pk"), satisfied=Count("pk", filter=Q(number__gte=4)))
    nps_total = nps["promoters"] + nps["passives"] + nps["detractors"]
    return {
        "nps": nps_from_counts(**nps),
        "nps_responses": nps_total,
        "csat": round(csat["satisfied"] * 100 / csat["total"], 1) if csat["total"] else None,
        "csat_responses": csat["total"],
    }


def survey_scores(*, start: datetime, end: datetime, member_ids: Collection[int] | None = None) -> dict:
    """NPS (-100 to 100) and CSAT (% of answers 4 or 5) over survey responses submitted in [start, end)."""
    return _scores(
        _score_answers(SurveyQuestion.Kind.NPS, start=start, end=end, member_ids=member_ids),
        _score_answers(SurveyQuestion.Kind.CSAT, start=start, end=end, member_ids=member_ids),
    )


def surveys_for_member(*, member: Member, now: datetime | None = None) -> list[Survey]:
    """Open surveys aimed at the member, each marked `answered`."""
    now = now or timezone.now()
    tag_ids = list(member.tags.values_list("pk", flat=True))
    surveys = (
        Survey.objects.filter(is_published=True, opens_at__lte=now)
        .filter(Q(closes_at__isnull=True) | Q(closes_at__gt=now))
        .prefetch_related("target_tags")
        .annotate(answered=Exists(SurveyResponse.objects.filter(survey=OuterRef("pk"), member_id=member.pk)))
        .order_by("closes_at", "-id")
    )
    chosen = []
    for survey in surveys:
        segments = survey.target_segments or []
        tags = {tag.pk for tag in survey.target_tags.all()}
        if (not segments and not tags) or member.segment in segments or tags.intersection(tag_ids):
            chosen.append(survey)
    return chosen


def survey_results(*, survey: Survey) -> dict[str, Any]:
    """Per question: NPS with its split, CSAT with its distribution, choice counts, the latest text answers."""
    questions = list(survey.questions.all())
    responses = survey.responses.count()
    answers = SurveyAnswer.objects.filter(response__survey=survey)
    numbers: dict[int, dict[int, int]] = {}
    for row in answers.filter(number__isnull=False).values("question_id", "number").annotate(count=Count("pk")):
        numbers.setdefault(row["question_id"], {})[row["number"]] = row["count"]
    choices: dict[int, dict[str, int]] = {}
    for row in (
        answers.filter(question__kind=SurveyQuestion.Kind.CHOICE)
        .values("question_id", "text")
        .annotate(count=Count("pk"))
    ):
        choices.setdefault(row["question_id"], {})[row["text"]] = row["count"]
    results = []
    for question in questions:
        entry: dict[str, Any] = {"question": question, "kind": question.kind}
        counts = numbers.get(question.pk, {})
        if question.kind == SurveyQuestion.Kind.NPS:
            promoters = sum(n for score, n in counts.items() if score >= 9)
            passives = sum(n for score, n in counts.items() if score in (7, 8))
            detractors = sum(n for score, n in counts.items() if score <= 6)
            entry |= {
                "nps": nps_from_counts(promoters=promoters, passives=passives, detractors=detractors),
                "promoters": promoters,
                "passives": passives,
                "detractors": detractors,
                "answers": promoters + passives + detractors,
                "distribution": [(score, counts.get(score, 0)) for score in range(11)],
            }
        elif question.kind == SurveyQuestion.Kind.CSAT:
            total = sum(counts.values())
            satisfied = sum(n for score, n in counts.items() if score >= 4)
            entry |= {
                "csat": round(satisfied * 100 / total, 1) if total else None,
                "answers": total,
                "distribution": [(score, counts.get(score, 0)) for score in range(1, 6)],
            }
        elif question.kind == SurveyQuestion.Kind.CHOICE:
            counted = choices.get(question.pk, {})
            entry |= {
                "answers": sum(counted.values()),
                "distribution": [(str(choice), counted.get(str(choice), 0)) for choice in question.choices or []],
            }
        else:
            texts = answers.filter(question=question).exclude(text="").order_by("-response__submitted_at")
            entry |= {"answers": texts.count(), "texts": list(texts.values_list("text", flat=True)[:50])}
        results.append(entry)
    return {"survey": survey, "responses": responses, "questions": results}


def survey_csv_rows(*, survey: Survey):
    """Header, then one row per response: when, who (member id and segment), then each question's answer."""
    questions = list(survey.questions.all())
    yield ["response_id", "submitted_at", "member_id", "segment", *[question.prompt for question in questions]]
    responses = survey.responses.select_related("member").prefetch_related("answers").order_by("submitted_at", "id")
    for response in responses.iterator(chunk_size=500):
        by_question = {answer.question_id: answer for answer in response.answers.all()}
        row = [response.pk, response.submitted_at.isoformat(), response.member_id, response.member.segment]
        for question in questions:
            answer = by_question.get(question.pk)
            row.append("" if answer is None else (answer.number if answer.number is not None else answer.text))
        yield row
