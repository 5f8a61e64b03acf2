"""Rewards tests start from an empty rule book; tests about the shipped defaults ask for `shipped_defaults`."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _empty_rule_book(request):
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if uses_db and "shipped_defaults" not in request.fixturenames:
        from rewards.models import Level, PointRule, StreakBonus
        from rewards.services import levels, rules

        # The migration's defaults would otherwise award points beside the rules each test sets up itself.
        PointRule.objects.all().delete()
        StreakBonus.objects.all().delete()
        Level.objects.all().delete()
        rules.rules_cache_forget()
        levels.level_ladder_forget()
    yield


@pytest.fixture
def shipped_defaults(db):
    """The rules, levels and streak bonuses as the migration installs them."""
