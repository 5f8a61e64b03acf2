"""The public application form: visitors apply (the account is created through allauth's sign-up), in English and
Chinese, with errors per field; members apply once per round; the round list and "my applications"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from community.models import Notification
from members.models import Application, Member, User
from tests.members.factories import RoundFactory, form_data, good_answers, standard_round

pytestmark = pytest.mark.django_db


def visitor_data(p, email="new.person@example.com", **extra):
    return {
        "email": email,
        "password1": "a long pass phrase 42",
        "password2": "a long pass phrase 42",
        "display_name": "王小明",
        **form_data(p, good_answers(p)),
        **extra,
    }


def test_round_list_shows_open_rounds_only_with_a_constant_query_count(client, django_assert_num_queries):
    open_round = RoundFactory(name="Open round")
    RoundFactory(name="Closed round", opens_at=timezone.now() - timedelta(days=9), closes_at=timezone.now())
    for _ in range(3):
        RoundFactory()

    with django_assert_num_queries(1):
        response = client.get(reverse("members:rounds"))

    assert response.status_code == 200
    assert open_round.name in response.content.decode()
    assert "Closed round" not in response.content.decode()


def test_a_visitor_applies_in_chinese_and_gets_an_account(client):
    round, p = standard_round()
    client.cookies["django_language"] = "zh-hans"

    page = client.get(reverse("members:apply", args=[round.slug]))
    assert page.status_code == 200
    assert "申请" in page.content.decode()

    response = client.post(reverse("members:apply", args=[round.slug]), visitor_data(p))

    assert response.status_code in (200, 302)
    user = User.objects.get(email="new.person@example.com")
    member = Member.objects.get(user=user)
    assert member.display_name == "王小明"
    assert member.locale == "zh-hans"
    application = Application.objects.get(member=member)
    assert application.round == round
    assert application.language == "zh-hans"
    assert application.answers.count() == 5
    assert any("new.person@example.com" in message.to for message in mail.outbox)  # e-mail verification
    kinds = set(Notification.objects.filter(member=member).values_list("kind", flat=True))
    assert kinds == {"application_received"}  # the welcome comes with the acceptance, not with the form
    received = Notification.objects.get(member=member)
    assert "王小明" in received.title and "感谢" in received.body


def test_per_field_errors_are_shown_and_nothing_is_created(client):
    round, p = standard_round()
    data = visitor_data(p, email="not-an-email")
    del data[f"q_{p['role'].pk}"]
    data[f"q_{p['hours'].pk}"] = "lots"

    response = client.post(reverse("members:apply", args=[round.slug]), data)

    assert response.status_code == 400
    form = response.context["form"]
    assert f"q_{p['role'].pk}" in form.errors
    assert f"q_{p['hours'].pk}" in form.errors
    assert "email" in response.context["signup"].errors
    assert not Application.objects.exists()
    assert not User.objects.filter(email="not-an-email").exists()


def test_errors_are_translated_in_chinese(client):
    round, p = standard_round()
    client.cookies["django_language"] = "zh-hans"
    data = visitor_data(p)
    del data[f"q_{p['role'].pk}"]

    response = client.post(reverse("members:apply", args=[round.slug]), data)

    assert response.status_code == 400
    assert "必填项" in response.content.decode()


def test_a_member_applies_once_and_a_second_submission_makes_no_second_application(web_member, member):
    round, p = standard_round()
    url = reverse("members:apply", args=[round.slug])

    first = web_member.post(url, form_data(p, good_answers(p)))
    second = web_member.post(url, form_data(p, good_answers(p)))

    assert first.status_code == 302 and first.url == reverse("members:my_applications")
    assert second.status_code == 302
    assert Application.objects.filter(member=member, round=round).count() == 1


def test_a_closed_round_refuses_applications(web_member):
    round = RoundFactory(opens_at=timezone.now() - timedelta(days=9), closes_at=timezone.now() - timedelta(days=1))

    response = web_member.post(reverse("members:apply", args=[round.slug]), {})

    assert response.status_code == 200
    assert "not open" in response.content.decode()
    assert not Application.objects.exists()


def test_my_applications_shows_only_mine(web_member, member, other_member):
    from members.services.applications import application_submit

    round, p = standard_round()
    other_round, p2 = standard_round(name="Another round")
    application_submit(round=round, member=member, answers=good_answers(p), actor=member.user)
    application_submit(round=other_round, member=other_member, answers=good_answers(p2), actor=other_member.user)

    response = web_member.get(reverse("members:my_applications"))

    body = response.content.decode()
    assert round.name in body
    assert "Another round" not in body


def test_a_member_withdraws_their_application(web_member, member, other_member):
    from members.services.applications import application_submit

    round, p = standard_round()
    mine = application_submit(round=round, member=member, answers=good_answers(p), actor=member.user).application
    theirs = application_submit(
        round=round, member=other_member, answers=good_answers(p), actor=other_member.user
    ).application

    assert web_member.post(reverse("members:application_withdraw", args=[theirs.pk])).status_code == 404
    web_member.post(reverse("members:application_withdraw", args=[mine.pk]))

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == Application.Status.WITHDRAWN
    assert theirs.status != Application.Status.WITHDRAWN


def test_an_accepted_member_is_welcomed_by_name_and_lands_in_the_portal(web_member, member):
    from members.services.decisions import application_decide
    from tests.members.factories import ApplicationFactory

    application_decide(application=ApplicationFactory(member=member), status="accepted", actor=None)

    page = web_member.get(reverse("members:my_applications")).content.decode()
    assert "Welcome aboard, Lin Mei!" in page
    assert reverse("portal:home") in page
    assert web_member.get(reverse("portal:home")).status_code == 200


def test_the_profile_page_edits_the_persona(web_member, member):
    response = web_member.get(reverse("portal:profile"))

    assert "occupation" in response.content.decode()
