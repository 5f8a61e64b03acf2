"""Celery tasks of the rewards engine, one module per topic (imported here so Celery finds them)."""

from rewards.tasks import badges, leaderboards, ledger, points, shop  # noqa: F401
