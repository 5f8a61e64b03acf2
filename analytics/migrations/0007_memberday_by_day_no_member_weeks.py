"""Member-days are keyed by (day, member) alone, and the member-week table goes.

The nightly rollup writes every active member's day: an index leading with the member took each of those rows at a
random place, and the member-weeks took as many random updates. A member's previous active day now comes from the
stream's (member, day) index, and the cohort cells are counted from the member-days of the first 13 weeks after
joining, which one partial index by join day serves (it replaces the funnel's narrower one). On a large database
the two new indexes are built under a lock on the member-day table (about 10 s at 10 million member-days).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0006_unlogged_member_rollups"),
        ("members", "0003_recruitment_personas"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="memberday", name="analytics_member_day_unique"),
        migrations.RemoveIndex(model_name="memberday", name="analytics_memberday_day"),
        migrations.RemoveIndex(model_name="memberday", name="analytics_memberday_joined"),
        migrations.AddConstraint(
            model_name="memberday",
            constraint=models.UniqueConstraint(fields=("day", "member"), name="analytics_memberday_day_member"),
        ),
        migrations.AddIndex(
            model_name="memberday",
            index=models.Index(
                condition=models.Q(("days_since_join__gte", 0), ("days_since_join__lte", 90)),
                fields=["joined_on", "days_since_join"],
                include=("member",),
                name="analytics_memberday_cohort",
            ),
        ),
        migrations.DeleteModel(name="MemberWeek"),
    ]
