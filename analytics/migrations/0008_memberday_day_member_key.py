"""Member-days are keyed by (day, member): the unique constraint becomes the primary key and the surrogate id goes.

A day's rollup wrote each row's key twice (the id's index and the (day, member) constraint) and drew an id for it;
now it writes one key. Django cannot turn a table's primary key into a composite one in place, so the table is
created anew, unlogged as before (`0006`): its rows are derived data, and the next rollup run notices that the
member-days are gone and rebuilds everything (`analytics.services.rollups._member_days_lost`).
"""

import django.db.models.deletion
from django.db import migrations, models


def unlogged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE analytics_memberday SET UNLOGGED")


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0007_memberday_by_day_no_member_weeks"),
        ("members", "0003_recruitment_personas"),
    ]

    operations = [
        migrations.DeleteModel(name="MemberDay"),
        migrations.CreateModel(
            name="MemberDay",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "day", "member", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "member",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="members.member",
                    ),
                ),
                ("day", models.DateField(verbose_name="day")),
                ("segment", models.CharField(max_length=16, verbose_name="segment")),
                ("actions", models.PositiveIntegerField(verbose_name="actions")),
                ("verbs", models.TextField(verbose_name="verbs")),
                ("joined_on", models.DateField(verbose_name="joined on")),
                ("days_since_join", models.IntegerField(verbose_name="days since joining")),
                ("prev_day", models.DateField(blank=True, null=True, verbose_name="previous active day")),
            ],
            options={
                "verbose_name": "member day",
                "verbose_name_plural": "member days",
                "indexes": [
                    models.Index(
                        condition=models.Q(("days_since_join__in", [1, 7, 30])),
                        fields=["days_since_join", "day"],
                        name="analytics_memberday_since",
                    ),
                    models.Index(
                        condition=models.Q(("days_since_join__gte", 0), ("days_since_join__lte", 90)),
                        fields=["joined_on", "days_since_join"],
                        include=("member",),
                        name="analytics_memberday_cohort",
                    ),
                ],
            },
        ),
        migrations.RunPython(unlogged, migrations.RunPython.noop),
    ]
