"""Member-days and member-weeks become unlogged tables on PostgreSQL.

They are derived data, rewritten from the activity stream by every rebuild: writing them to the write-ahead log
as well (millions of rows on a full rebuild, every member active on a day on the nightly one) bought nothing that
a rebuild cannot give back. PostgreSQL empties unlogged tables after a crash and does not copy them to standby
servers; `analytics.services.rollups.rollups_rebuild` notices member-days that went missing and rebuilds
everything on its next run (the 15-minute job).
"""

from django.db import migrations

TABLES = ("analytics_memberday", "analytics_memberweek")


def _persistence(schema_editor, keyword: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET {keyword}")


def unlogged(apps, schema_editor):
    _persistence(schema_editor, "UNLOGGED")


def logged(apps, schema_editor):
    _persistence(schema_editor, "LOGGED")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0005_memberday_partial_indexes")]

    operations = [migrations.RunPython(unlogged, logged)]
