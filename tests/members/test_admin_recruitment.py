"""The operator admin: the review queue (ranked, filtered, constant query count), the score explanation, bulk
decisions with capacity, the questionnaire builder, and rescoring when rules change."""

from __future__ import annotations

import pytest
from django.urls import reverse

from community.models import AuditLog
from members.models import Application, Scorecard
from members.services.applications import application_submit
from members.services.scoring import round_score
from tests.factories import MemberFactory
from tests.members.factories import ApplicationFactory, UsageMetricFactory, good_answers, standard_round

pytestmark = pytest.mark.django_db

QUEUE = "admin:members_application_changelist"


def fill(round, p, count):
    for number in range(count):
        member = MemberFactory()
        application = application_submit(round=round, member=member, answers=good_answers(p), actor=member.user)
        UsageMetricFactory(application=application.application, active_days_30=number % 30)
    round_score(round_id=round.pk)


def _queue_queries(client, django_assert_max_num_queries) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(QUEUE))
    assert response.status_code == 200
    return len(queries)


def test_the_review_queue_takes_the_same_queries_for_3_or_60_applications(web_operator, django_assert_max_num_queries):
    round, p = standard_round()
    fill(round, p, 3)
    few = _queue_queries(web_operator, django_assert_max_num_queries)
    fill(round, p, 57)

    assert _queue_queries(web_operator, django_assert_max_num_queries) == few


def test_the_queue_is_ranked_by_score_and_filters_by_top_usage(web_operator):
    round, p = standard_round()
    fill(round, p, 10)
    best = Scorecard.objects.order_by("-total").first().application

    response = web_operator.get(reverse(QUEUE))
    rows = list(response.context["cl"].result_list)
    assert rows[0] == best

    top = web_operator.get(reverse(QUEUE), {"scorecard__top_usage__exact": "1"})
    assert len(top.context["cl"].result_list) == 2


def test_the_application_page_explains_the_score(web_operator):
    round, p = standard_round()
    fill(round, p, 2)
    application = Application.objects.first()

    response = web_operator.get(reverse("admin:members_application_change", args=[application.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "What do you do?" in body and "Developer" in body
    assert "percentile" in body


def test_bulk_accept_stops_at_capacity_with_a_clear_message(web_operator):
    round, _p = standard_round(capacity=2)
    applications = [ApplicationFactory(round=round) for _ in range(3)]

    response = web_operator.post(
        reverse(QUEUE),
        {"action": "decide_accepted", "_selected_action": [a.pk for a in applications], "reason": "", "note": ""},
        follow=True,
    )

    assert Application.objects.filter(status="accepted").count() == 2
    messages = [str(m) for m in response.context["messages"]]
    assert any("full" in message for message in messages)
    assert AuditLog.objects.filter(action="application.accepted").count() == 2


def test_bulk_reject_records_the_reason(web_operator):
    application = ApplicationFactory()

    web_operator.post(
        reverse(QUEUE),
        {"action": "decide_rejected", "_selected_action": [application.pk], "reason": "fit", "note": "Not now"},
    )

    application.refresh_from_db()
    assert (application.status, application.decision_reason, application.decision_note) == (
        "rejected",
        "fit",
        "Not now",
    )


def test_the_questionnaire_builder_pages_open(web_operator):
    round, p = standard_round()

    for url in (
        reverse("admin:members_round_change", args=[round.pk]),
        reverse("admin:members_question_change", args=[p["role"].pk]),
        reverse("admin:members_round_changelist"),
        reverse("admin:members_decisiontemplate_add"),
        reverse("admin:members_segmentationsettings_changelist"),
        reverse("admin:members_exitsurvey_changelist"),
        reverse("admin:members_usageimport_changelist"),
        reverse("admin:members_interview_changelist"),
    ):
        assert web_operator.get(url).status_code == 200, url


def test_changing_a_rule_in_the_admin_rescores_the_round(web_operator, django_capture_on_commit_callbacks):
    round, p = standard_round()
    fill(round, p, 1)
    question = p["role"]
    url = reverse("admin:members_question_change", args=[question.pk])
    page = web_operator.get(url)
    data = {}
    for name in page.context["adminform"].form.fields:
        value = page.context["adminform"].form.initial.get(name)
        data[name] = value if value is not None else ""
    data["weight"] = "3"
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        prefix = formset.formset.prefix
        data.update({f"{prefix}-{key}": value for key, value in management.initial.items()})
        data[f"{prefix}-TOTAL_FORMS"] = len(formset.formset.initial_forms)  # no blank extra forms
        for index, form in enumerate(formset.formset.initial_forms):
            for name in form.fields:
                value = form.initial.get(name)
                data[f"{prefix}-{index}-{name}"] = "" if value is None else value
            data[f"{prefix}-{index}-{form._meta.model._meta.pk.name}"] = form.instance.pk
            data[f"{prefix}-{index}-question"] = question.pk
        for key in ("knockout",):
            for index, form in enumerate(formset.formset.initial_forms):
                if not form.initial.get(key):
                    data.pop(f"{prefix}-{index}-{key}", None)
    data.pop("required", None) if not question.required else None

    with django_capture_on_commit_callbacks(execute=True):
        response = web_operator.post(url, data)

    assert response.status_code == 302, [f.formset.errors for f in response.context["inline_admin_formsets"]] + [
        f.formset.non_form_errors() for f in response.context["inline_admin_formsets"]
    ]
    card = Scorecard.objects.get()
    assert card.breakdown["questions"][0]["points"] == 30.0  # developer: 10 points x weight 3


def test_members_cannot_open_the_review_queue(web_member):
    assert web_member.get(reverse(QUEUE)).status_code == 302
