"""Checks that the parts the platform runs on answer: the database, the cache and the Celery broker.

The report is public (load balancers and uptime monitors read it without credentials), so a failing check says
only which kind of error it met; the full message, which may name hosts, users or file paths, goes to the log.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

# A queue only the health check uses: declaring it is a round trip to the broker on every transport.
HEALTH_QUEUE = "hearth.health"


def _timed(name: str, check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # a failing dependency is a report, never a crash of the health endpoint
        logger.warning("Health check %s failed: %s: %s", name, type(exc).__name__, exc)
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"backend": connection.vendor}


def check_cache() -> dict[str, Any]:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("value written to the cache could not be read back")
    cache.delete(key)
    return {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def check_broker() -> dict[str, Any]:
    from community.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=settings.HEARTH_HEALTH_BROKER_TIMEOUT)
        # Some transports (the SQLAlchemy one among them) "connect" without touching the server; declaring a
        # queue makes every transport reach it.
        conn.default_channel.queue_declare(queue=HEALTH_QUEUE, exclusive=True, auto_delete=True)
        transport = conn.transport_cls
    return {"transport": str(transport)}


def check_all() -> dict[str, Any]:
    checks = {
        "database": _timed("database", check_database),
        "cache": _timed("cache", check_cache),
        "broker": _timed("broker", check_broker),
    }
    return {"status": "ok" if all(c["ok"] for c in checks.values()) else "degraded", "checks": checks}
