"""The program's starting point rules, levels and streak bonuses, as they were when the engine shipped.

Frozen here (a migration must not depend on code that changes later); operators edit them in the admin.
Names are English msgids: the portal shows them translated.
"""

from django.db import migrations

RULES = (
    # verb, name, points, daily cap
    ("checked_in", "Daily check-in", 2, 1),
    ("question_answered", "Answering a question", 5, 3),
    ("feedback_submitted", "Submitting feedback", 3, 5),
    ("feedback_accepted", "Feedback accepted", 20, None),
    ("event_attended", "Attending an event", 10, None),
    ("survey_answered", "Answering a survey", 5, None),
    ("reported_for_spam", "Reported for spam", -20, None),
)
LEVELS = (
    # name, lifetime threshold, privileges, shop discount %, minimum active days in 30
    ("Newcomer", 0, [], 0, None),
    ("Active", 100, ["early_access"], 0, None),
    ("Core", 500, ["early_access", "exclusive_events", "shop_discount_percent"], 5, None),
    ("Super", 2000, ["early_access", "priority_support", "exclusive_events", "shop_discount_percent"], 10, 8),
)
STREAK_BONUSES = (
    # days, name, points, repeats
    (7, "7-day check-in streak", 5, True),
    (30, "30-day check-in streak", 20, True),
)


def install(apps, schema_editor):
    PointRule = apps.get_model("rewards", "PointRule")
    Level = apps.get_model("rewards", "Level")
    StreakBonus = apps.get_model("rewards", "StreakBonus")
    for verb, name, points, daily_cap in RULES:
        PointRule.objects.get_or_create(verb=verb, name=name, defaults={"points": points, "daily_cap": daily_cap})
    for name, threshold, privileges, discount, min_active_days in LEVELS:
        if not Level.objects.filter(threshold=threshold).exists():
            Level.objects.get_or_create(
                name=name,
                defaults={"threshold": threshold, "privileges": privileges, "shop_discount_percent": discount,
                          "min_active_days": min_active_days},
            )
    for days, name, points, repeats in STREAK_BONUSES:
        if not StreakBonus.objects.filter(days=days).exists():
            StreakBonus.objects.create(days=days, name=name, points=points, repeats=repeats)


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
