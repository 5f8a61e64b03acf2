"""Member-days number a member's active days within each week after joining (`MemberDay.week_active_days`), and the
cohort index carries that number, so the cohort cells are counted from member-days without grouping them by member.

The rows already there have no number: they are removed (derived data, unlogged since `0006`), and the next rollup
run notices that the member-days are gone and rebuilds everything (`analytics.services.rollups._member_days_lost`).
"""

from django.db import migrations, models


def member_days_empty(apps, schema_editor):
    member_days = apps.get_model("analytics", "MemberDay")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"TRUNCATE {member_days._meta.db_table}")
    else:
        member_days.objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0008_memberday_day_member_key"),
        ("members", "0004_member_rollup_columns"),
    ]

    operations = [
        migrations.RunPython(member_days_empty, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="memberday", name="analytics_memberday_cohort"),
        migrations.AddField(
            model_name="memberday",
            name="week_active_days",
            field=models.PositiveSmallIntegerField(
                blank=True, null=True, verbose_name="active days so far this week"
            ),
        ),
        migrations.AddIndex(
            model_name="memberday",
            index=models.Index(
                condition=models.Q(("days_since_join__gte", 0), ("days_since_join__lte", 90)),
                fields=["joined_on", "days_since_join"],
                include=("member", "week_active_days"),
                name="analytics_memberday_cohort",
            ),
        ),
        migrations.AddConstraint(
            model_name="memberday",
            constraint=models.CheckConstraint(
                condition=models.Q(("week_active_days__isnull", True))
                | models.Q(("week_active_days__gte", 1), ("week_active_days__lte", 7)),
                name="analytics_memberday_week_active_days_range",
            ),
        ),
    ]
