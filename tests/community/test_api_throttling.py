"""API rate limits: fixed-window counters, one cache increment per request."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import RequestFactory

from community.api import throttling
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


class TwoPerMinute(throttling.UserRateThrottle):
    rate = "2/minute"


def _request(user):
    request = RequestFactory().get("/api/v1/ping/")
    request.user = user
    return request


def test_the_third_request_in_a_window_is_refused_until_the_next_window():
    user = MemberFactory().user
    other = MemberFactory().user
    with mock.patch.object(TwoPerMinute, "timer", return_value=120.0):
        assert TwoPerMinute().allow_request(_request(user), None)
        assert TwoPerMinute().allow_request(_request(user), None)
        refused = TwoPerMinute()
        assert not refused.allow_request(_request(user), None)
        assert refused.wait() == pytest.approx(60.0)
        assert TwoPerMinute().allow_request(_request(other), None)  # counted per client
    with mock.patch.object(TwoPerMinute, "timer", return_value=185.0):
        assert TwoPerMinute().allow_request(_request(user), None)  # a new window


def test_the_api_answers_429_with_retry_after_once_the_limit_is_reached(client):
    member = MemberFactory()
    client.force_login(member.user)
    with mock.patch.dict(throttling.UserRateThrottle.THROTTLE_RATES, {"user": "1/minute"}):
        first = client.get("/api/v1/notifications/")
        second = client.get("/api/v1/notifications/")
    assert first.status_code == 200
    assert second.status_code == 429 and int(second["Retry-After"]) <= 60
