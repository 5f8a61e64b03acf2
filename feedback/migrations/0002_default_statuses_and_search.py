"""The statuses and SLA targets the program starts with, and (on PostgreSQL) the full-text index on titles.

Frozen here (a migration must not depend on code that changes later); operators edit them in the admin. Names are
English msgids: the portal shows them translated.
"""

from django.db import migrations

STATUSES = (
    # key, name, order, initial, decision, closed, marks duplicates
    ("new", "New", 10, True, "", False, False),
    ("acknowledged", "Acknowledged", 20, False, "", False, False),
    ("planned", "Planned", 30, False, "accepted", False, False),
    ("in_progress", "In progress", 40, False, "accepted", False, False),
    ("done", "Done", 50, False, "accepted", True, False),
    ("declined", "Declined", 60, False, "declined", True, False),
    ("duplicate", "Duplicate", 70, False, "", True, True),
)
SLA_TARGETS = (
    # kind, first response (hours), resolution (hours)
    ("bug", 24, 24 * 14),
    ("question", 24, 72),
    ("complaint", 24, 24 * 7),
    ("idea", 72, None),
    ("praise", 72, None),
)
SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS feedback_title_search ON feedback_feedbackitem "
    "USING gin (to_tsvector('simple'::regconfig, COALESCE(title, '')))"
)


def install(apps, schema_editor):
    FeedbackStatus = apps.get_model("feedback", "FeedbackStatus")
    SlaTarget = apps.get_model("feedback", "SlaTarget")
    for key, name, order, initial, decision, closed, duplicate in STATUSES:
        FeedbackStatus.objects.get_or_create(
            key=key,
            defaults={
                "name": name,
                "order": order,
                "is_default": initial,
                "decision": decision,
                "is_closed": closed,
                "is_duplicate": duplicate,
            },
        )
    for kind, first_response, resolution in SLA_TARGETS:
        SlaTarget.objects.get_or_create(
            kind=kind, defaults={"first_response_hours": first_response, "resolution_hours": resolution}
        )
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SEARCH_INDEX)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS feedback_title_search")


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
