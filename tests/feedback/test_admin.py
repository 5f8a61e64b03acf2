"""Operator pages: triage list with bulk actions, inlines, merge, moderation queue, surveys and results."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from community.models import AuditLog
from feedback import services
from feedback.models import FeedbackItem, InternalNote, ModerationAction, Reply, Report, Survey, SurveyQuestion
from members.models import Member
from tests.feedback.factories import FeedbackItemFactory, QuestionFactory, SurveyFactory, status

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:feedback_feedbackitem_changelist"


def test_the_triage_list_loads_with_a_constant_query_count(web_operator, django_assert_max_num_queries):
    FeedbackItemFactory()
    web_operator.get(reverse(CHANGELIST))
    with django_assert_max_num_queries(20) as few:
        assert web_operator.get(reverse(CHANGELIST), {"sla": "overdue"}).status_code == 200
    FeedbackItemFactory.create_batch(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert web_operator.get(reverse(CHANGELIST)).status_code == 200


def test_members_cannot_open_the_admin(web_member):
    assert web_member.get(reverse(CHANGELIST)).status_code == 302


def test_bulk_status_change_goes_through_the_service(web_operator, member, other_member):
    items = [FeedbackItemFactory(author=member), FeedbackItemFactory(author=other_member)]
    data = {"action": "set_status", ACTION_CHECKBOX_NAME: [item.pk for item in items]}

    ask = web_operator.post(reverse(CHANGELIST), data)
    done = web_operator.post(reverse(CHANGELIST), {**data, "apply": "1", "status": status("planned").pk, "note": ""})

    assert ask.status_code == 200 and b"New status" in ask.content
    assert done.status_code == 302
    assert set(FeedbackItem.objects.values_list("status__key", flat=True)) == {"planned"}
    assert AuditLog.objects.filter(action="feedback.status_change").count() == 2


def test_the_merge_action(web_operator, member):
    original, duplicate = FeedbackItemFactory(author=member), FeedbackItemFactory(author=member)

    web_operator.post(
        reverse(CHANGELIST),
        {"action": "merge_into", ACTION_CHECKBOX_NAME: [duplicate.pk], "apply": "1", "original": original.pk},
    )

    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == original.pk


def test_saving_the_change_form_adds_notes_and_replies_through_services(web_operator, operator, member):
    item = FeedbackItemFactory(author=member)
    url = reverse("admin:feedback_feedbackitem_change", args=[item.pk])
    page = web_operator.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        "status": status("acknowledged").pk,
        "priority": 2,
        "assignee": operator.user.pk,
        "area": "",
        "visibility": "public",
    }
    for formset in page.context["inline_admin_formsets"]:
        prefix = formset.formset.prefix
        data |= {
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
        if formset.formset.model is Reply:
            data[f"{prefix}-0-body"] = "Thanks, we see it."
        if formset.formset.model is InternalNote:
            data[f"{prefix}-0-body"] = "Probably the cache."
    assert form is not None

    response = web_operator.post(url, data)

    assert response.status_code == 302, response.content[:2000]
    item.refresh_from_db()
    assert (item.status.key, item.priority, item.assignee_id) == ("acknowledged", 2, operator.user.pk)
    assert Reply.objects.get(item=item).author == operator
    assert InternalNote.objects.get(item=item).body == "Probably the cache."
    assert item.first_response_at is not None


def test_the_moderation_queue_mutes_a_reported_member(web_operator, member, other_member):
    report = services.report_file(reporter=member, target=other_member, reason="abuse", note="Insults")
    url = reverse("admin:feedback_report_changelist")

    assert b"Insults" not in web_operator.get(url).content  # the note is on the report's page, not the list
    assert web_operator.get(reverse("admin:feedback_report_change", args=[report.pk])).status_code == 200
    web_operator.post(
        url, {"action": "mute", ACTION_CHECKBOX_NAME: [report.pk], "apply": "1", "reason": "Be kind", "days": 3}
    )

    action = ModerationAction.objects.get(member=other_member)
    assert action.kind == "mute" and action.muted_until is not None
    report.refresh_from_db()
    assert report.status == Report.Status.ACTIONED


def test_the_queue_removes_through_the_members_service(web_operator, member, other_member):
    report = services.report_file(reporter=member, target=other_member, reason="spam")

    web_operator.post(
        reverse("admin:feedback_report_changelist"),
        {"action": "remove", ACTION_CHECKBOX_NAME: [report.pk], "apply": "1", "reason": "Spam bot"},
    )

    other_member.refresh_from_db()
    assert other_member.status == Member.Status.REMOVED


def test_moderators_see_the_queue(client, moderator, member, other_member):
    services.report_file(reporter=member, target=other_member, reason="ads")
    client.force_login(moderator.user)

    assert client.get(reverse("admin:feedback_report_changelist")).status_code == 200


def test_building_a_survey_and_exporting_its_results(web_operator, member):
    response = web_operator.post(
        reverse("admin:feedback_survey_add"),
        {
            "title": "Onboarding",
            "description": "",
            "opens_at_0": "2026-01-01",
            "opens_at_1": "00:00:00",
            "closes_at_0": "",
            "closes_at_1": "",
            "is_published": "on",
            "target_segments": ["novice"],
            "questions-TOTAL_FORMS": "2",
            "questions-INITIAL_FORMS": "0",
            "questions-MIN_NUM_FORMS": "0",
            "questions-MAX_NUM_FORMS": "1000",
            "questions-0-order": "1",
            "questions-0-kind": "nps",
            "questions-0-prompt": "Recommend us?",
            "questions-0-choices": "[]",
            "questions-0-required": "on",
            "questions-1-order": "2",
            "questions-1-kind": "choice",
            "questions-1-prompt": "Plan?",
            "questions-1-choices": '["Free", "Pro"]',
            "questions-1-required": "on",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    survey = Survey.objects.get(title="Onboarding")
    assert survey.questions.count() == 2 and survey.target_segments == ["novice"]
    nps, choice = survey.questions.order_by("order")
    services.survey_respond(survey=survey, member=member, answers={nps.pk: 10, choice.pk: "Pro"})

    results = web_operator.get(reverse("admin:feedback_survey_results", args=[survey.pk]))
    export = web_operator.get(reverse("admin:feedback_survey_csv", args=[survey.pk]))

    assert results.status_code == 200 and "100.0" in results.content.decode()
    rows = b"".join(export.streaming_content).decode().splitlines()
    assert rows[0].endswith("Recommend us?,Plan?") and rows[1].endswith(",10,Pro")


def test_a_choice_question_needs_options(web_operator):
    survey = SurveyFactory()
    QuestionFactory(survey=survey, kind=SurveyQuestion.Kind.NPS)

    assert web_operator.get(reverse("admin:feedback_survey_change", args=[survey.pk])).status_code == 200
