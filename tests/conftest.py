"""Personas every endpoint is tried with: an operator, a member, and another member who must not see theirs."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from community import roles
from tests.factories import MemberFactory, staff_member


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    from community.api.throttling import throttle_leases_forget
    from community.authentication import api_token_cache_forget
    from rewards.services.config_cache import config_caches_forget_local

    cache.clear()
    config_caches_forget_local()
    api_token_cache_forget()
    throttle_leases_forget()
    yield


@pytest.fixture
def member(db):
    return MemberFactory(display_name="Lin Mei")


@pytest.fixture
def other_member(db):
    return MemberFactory(display_name="Zhang Wei")


@pytest.fixture
def operator(db):
    return staff_member(roles.OPERATOR, display_name="Olga Operator")


@pytest.fixture
def moderator(db):
    return staff_member(roles.MODERATOR, display_name="Mo Moderator")


@pytest.fixture
def analyst(db):
    return staff_member(roles.ANALYST, display_name="Ana Analyst")


def _api_client_for(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(member.user)
    return client


@pytest.fixture
def api_member(member):
    return _api_client_for(member)


@pytest.fixture
def api_other(other_member):
    return _api_client_for(other_member)


@pytest.fixture
def api_operator(operator):
    return _api_client_for(operator)


@pytest.fixture
def api_anon():
    return APIClient()


@pytest.fixture
def web_member(client, member):
    client.force_login(member.user)
    return client


@pytest.fixture
def web_operator(client, operator):
    client.force_login(operator.user)
    return client
