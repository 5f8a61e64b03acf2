"""/health/: database, cache and broker, checked against the services the tests run on; outages are simulated."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import override_settings
from rest_framework.test import APIClient

from community import health
from community.celery import app as celery_app

HEALTH = "/health/"
# Nothing listens on port 1, so a connection there is refused at once.
DEAD_REDIS = "redis://:hunter2-secret@127.0.0.1:1/0"


def expected_transport() -> str:
    return celery_app.conf.broker_url.split("://", 1)[0].split("+", 1)[0]


@pytest.fixture
def broken_broker(monkeypatch: pytest.MonkeyPatch):
    def use(url: str) -> None:
        monkeypatch.setattr(celery_app.conf, "broker_url", url)

    return use


@pytest.mark.django_db
def test_all_checks_pass_against_the_real_services(api_anon):
    response = api_anon.get(HEALTH)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] is True for check in body["checks"].values())
    assert all(isinstance(check["ms"], int | float) for check in body["checks"].values())
    assert body["checks"]["database"]["backend"] == connection.vendor
    assert body["checks"]["cache"]["backend"] == settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    assert body["checks"]["broker"]["transport"] == expected_transport()


@pytest.mark.django_db
def test_health_needs_no_credentials_and_ignores_bad_ones():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = client.get(HEALTH)

    assert response.status_code == 200
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("who", ["api_operator", "api_member", "api_other"])
def test_health_answers_every_persona_alike(request, who):
    response = request.getfixturevalue(who).get(HEALTH)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_an_unreachable_broker_is_503_with_only_the_broker_failing(api_anon, broken_broker):
    broken_broker(DEAD_REDIS)

    response = api_anon.get(HEALTH)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True


@pytest.mark.django_db
def test_a_broker_that_only_connects_on_use_is_really_checked(api_anon, broken_broker, tmp_path):
    # The SQLAlchemy transport's connect() does not open the database; the check must reach it anyway.
    broken_broker(f"sqla+sqlite:///{tmp_path / 'no-such-dir' / 'broker.sqlite3'}")

    response = api_anon.get(HEALTH)

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


@pytest.mark.django_db
def test_a_working_sqlalchemy_broker_passes(api_anon, broken_broker, tmp_path):
    broken_broker(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}")

    response = api_anon.get(HEALTH)

    assert response.status_code == 200, response.content
    broker = response.json()["checks"]["broker"]
    assert (broker["ok"], broker["transport"]) == (True, "sqla")
    assert (tmp_path / "broker.sqlite3").exists()


@pytest.mark.django_db
@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
)
def test_an_unreachable_cache_is_503_with_only_the_cache_failing(api_anon):
    response = api_anon.get(HEALTH)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}})
def test_a_cache_that_forgets_what_it_was_given_is_503(api_anon):
    response = api_anon.get(HEALTH)

    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["ok"] is False


class _DeadConnection:
    vendor = "postgresql"

    def cursor(self):
        raise OperationalError('connection to server at "db.internal" failed: password authentication failed')


@pytest.mark.django_db
def test_an_unreachable_database_is_503(api_anon, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(health, "connection", _DeadConnection())

    response = api_anon.get(HEALTH)

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["cache"]["ok"] is True


@pytest.mark.django_db
@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
)
def test_a_failure_does_not_tell_the_public_where_the_services_are(api_anon, broken_broker, monkeypatch, caplog):
    broken_broker(DEAD_REDIS)
    monkeypatch.setattr(health, "connection", _DeadConnection())

    with caplog.at_level("WARNING", logger="community.health"):
        response = api_anon.get(HEALTH)

    assert response.status_code == 503
    text = response.content.decode()
    for secret in ("hunter2", "127.0.0.1", "db.internal", "password"):
        assert secret not in text
    assert {check["error"] for check in response.json()["checks"].values()} <= {"OperationalError", "ConnectionError"}
    # The details are not lost: they go to the log, where operators look.
    assert "db.internal" in caplog.text
    assert "127.0.0.1" in caplog.text


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_health_is_read_only(api_anon, method):
    assert getattr(api_anon, method)(HEALTH).status_code == 405
