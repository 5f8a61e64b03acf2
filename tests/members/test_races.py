"""Races on PostgreSQL with real threads: operators accepting the last place at once, double submissions."""

from __future__ import annotations

import pytest
from django.db import connection

from community.errors import ServiceError
from members.models import Application
from members.services.applications import application_submit
from members.services.decisions import application_decide
from tests.concurrency import at_once
from tests.factories import MemberFactory, staff_member
from tests.members.factories import ApplicationFactory, RoundFactory, good_answers, standard_round

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are proven on PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def test_two_operators_accepting_the_last_place_at_once_exactly_one_succeeds():
    from community import roles

    round = RoundFactory(capacity=3)
    for _ in range(2):
        application_decide(application=ApplicationFactory(round=round), status="accepted", actor=None)
    contenders = [ApplicationFactory(round=round) for _ in range(2)]
    operators = [staff_member(roles.OPERATOR) for _ in range(2)]

    results = at_once(
        2,
        lambda i: application_decide(application=contenders[i], status="accepted", actor=operators[i].user),
    )

    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(refused) == 1 and refused[0].code == "capacity", results
    assert sum(isinstance(r, Application) for r in results) == 1
    assert Application.objects.filter(round=round, status="accepted").count() == 3


def test_many_operators_accepting_many_applicants_never_overfill_the_round():
    round = RoundFactory(capacity=5)
    contenders = [ApplicationFactory(round=round) for _ in range(12)]

    results = at_once(12, lambda i: application_decide(application=contenders[i], status="accepted", actor=None))

    assert sum(isinstance(r, Application) for r in results) == 5
    assert all(isinstance(r, Application) or getattr(r, "code", None) == "capacity" for r in results), results
    assert Application.objects.filter(round=round, status="accepted").count() == 5


def test_the_same_application_submitted_twice_at_once_is_stored_once():
    round, p = standard_round()
    member = MemberFactory()

    results = at_once(
        4, lambda i: application_submit(round=round, member=member, answers=good_answers(p), actor=member.user)
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.created for r in results) == 1
    assert len({r.application.pk for r in results}) == 1
    assert Application.objects.filter(round=round, member=member).count() == 1
