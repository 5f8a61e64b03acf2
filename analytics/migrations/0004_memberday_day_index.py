"""The member-day index by day and member instead of day and segment (no query filters member-days by segment, a
full rebuild sorts a date and a number far faster than a date and a string, and "members active on these days"
reads the index alone), and the member-weeks recomputed once from the member-days:
from now on every rollup rebuild keeps them up to date for the days it rewrites, and the cohort recompute reads
them instead of rewriting them."""

from django.db import migrations, models

_INSERT = (
    "INSERT INTO analytics_memberweek (member_id, cohort_week, week_index, active_days)"
    " SELECT member_id, {monday}, days_since_join / 7, COUNT(*) FROM analytics_memberday"
    " WHERE days_since_join >= 0 AND days_since_join < 91 GROUP BY member_id, days_since_join / 7"
)
# The whole statement per database (the Monday of the member's join week is spelled differently).
MEMBER_WEEKS_SQL = {
    "postgresql": _INSERT.format(monday="(MIN(joined_on) - (EXTRACT(ISODOW FROM MIN(joined_on))::int - 1))"),
    "sqlite": _INSERT.format(monday="date(MIN(joined_on), 'weekday 0', '-6 days')"),
}


def member_weeks_from_member_days(apps, schema_editor):
    sql = MEMBER_WEEKS_SQL.get(schema_editor.connection.vendor)
    if sql is None:
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_memberweek")
        cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_rollups_at_scale"),
        ("members", "0003_recruitment_personas"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="memberday",
            name="analytics_memberday_day",
        ),
        migrations.AddIndex(
            model_name="memberday",
            index=models.Index(fields=["day", "member"], name="analytics_memberday_day"),
        ),
        migrations.RunPython(member_weeks_from_member_days, migrations.RunPython.noop),
    ]
