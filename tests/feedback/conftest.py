"""Feedback tests run with the shipped statuses and point rules (the migrations install them)."""

from __future__ import annotations

import pytest

from feedback import services


@pytest.fixture
def submit():
    """Submit feedback through the service, with sensible defaults."""

    def _submit(author, **kwargs):
        kwargs.setdefault("kind", "bug")
        kwargs.setdefault("title", "The export button does nothing")
        kwargs.setdefault("body", "When I click **Export** nothing happens.")
        return services.item_submit(author=author, **kwargs)

    return _submit


@pytest.fixture
def shipped_statuses(transactional_db):
    """Transactional tests start from a flushed database: put the migration's statuses and SLA targets back."""
    import importlib

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("feedback.migrations.0002_default_statuses_and_search")
    with connection.schema_editor() as editor:
        migration.install(apps, editor)
