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


class ThousandPerMinute(throttling.UserRateThrottle):
    rate = "1000/minute"  # leases of 10


@pytest.fixture(autouse=True)
def _no_leases_left():
    throttling.throttle_leases_forget()
    yield
    throttling.throttle_leases_forget()


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


def test_small_limits_are_counted_request_by_request():
    assert throttling.lease_size(2) == 1
    assert throttling.lease_size(199) == 1
    assert throttling.lease_size(1000) == 10
    assert throttling.lease_size(6000) == throttling.LEASE_MAX


def test_a_generous_limit_asks_the_cache_once_per_lease():
    from django.core.cache import cache

    user = MemberFactory().user
    with mock.patch.object(ThousandPerMinute, "timer", return_value=120.0):
        for _request_number in range(25):
            assert ThousandPerMinute().allow_request(_request(user), None)
        key = ThousandPerMinute().get_cache_key(_request(user), None)
    # Three leases of 10 reserved for 25 requests.
    assert cache.get(f"{key}:2") == 30


def test_leases_taken_by_several_processes_never_exceed_the_limit():
    user = MemberFactory().user
    allowed = 0
    with mock.patch.object(ThousandPerMinute, "timer", return_value=120.0):
        for request_number in range(1_300):
            if request_number % 7 == 0:
                # Another process serves the next requests: this one's leftover lease is never used.
                throttling.throttle_leases_forget()
            allowed += ThousandPerMinute().allow_request(_request(user), None)
    assert allowed <= 1_000
    # Each switch strands at most a lease's worth of reserved requests; the client is refused early, never late.
    assert allowed >= 1_000 * 6 // 10


def test_a_lease_cut_short_by_the_limit_serves_only_what_is_left():
    from django.core.cache import cache

    user = MemberFactory().user
    with mock.patch.object(ThousandPerMinute, "timer", return_value=120.0):
        key = ThousandPerMinute().get_cache_key(_request(user), None)
        cache.set(f"{key}:2", 995, 61)  # other processes have used 995 of the 1,000
        results = [ThousandPerMinute().allow_request(_request(user), None) for _request_number in range(12)]
    assert results == [True] * 5 + [False] * 7
