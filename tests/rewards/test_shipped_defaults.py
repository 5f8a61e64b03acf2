"""The engine ships a starting rule book, level ladder and streak bonuses (installed by a migration)."""

from rewards.models import Level, PointRule, StreakBonus
from rewards.services.checkin import DEFAULT_STREAK_BONUSES, streak_bonuses_install_defaults
from rewards.services.levels import DEFAULT_LEVELS, levels_install_defaults
from rewards.services.rules import DEFAULT_RULES, point_rules_install_defaults


def test_the_migration_installs_the_default_rules_levels_and_bonuses(shipped_defaults):
    assert {(r.verb, r.name, r.points, r.daily_cap) for r in PointRule.objects.all()} == {
        (verb, name, points, limits.get("daily_cap")) for verb, name, points, limits in DEFAULT_RULES
    }
    assert sorted(Level.objects.values_list("name", "threshold")) == sorted(
        (name, threshold) for name, threshold, *_ in DEFAULT_LEVELS
    )
    assert sorted(StreakBonus.objects.values_list("days", "points")) == sorted(
        (days, points) for days, _name, points, _repeats in DEFAULT_STREAK_BONUSES
    )
    assert PointRule.objects.get(verb="reported_for_spam").points < 0


def test_installing_the_defaults_again_adds_nothing(shipped_defaults):
    assert point_rules_install_defaults() == 0
    assert levels_install_defaults() == 0
    assert streak_bonuses_install_defaults() == 0
