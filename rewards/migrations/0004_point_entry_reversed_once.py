import django.db.models.deletion
from django.db import migrations, models

OLD_UNIQUE = "rewards_pointentry_reverses_id_key"


def _unique_constraints_on_reverses(schema_editor, table: str) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, info in constraints.items()
        if info["unique"] and not info["primary_key"] and info["columns"] == ["reverses_id"] and not info["index"]
    ]


def drop_old_unique(apps, schema_editor):
    # Only the one-to-one field's unique constraint goes. Django's own AlterField would also drop and re-add the
    # foreign key, which re-checks every entry of the ledger while holding a lock that stops awards. Elsewhere than
    # PostgreSQL the old unique index stays: it allows any number of NULLs there too, so it means the same thing.
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("rewards", "PointEntry")._meta.db_table
    for name in _unique_constraints_on_reverses(schema_editor, table):
        schema_editor.execute(
            f"ALTER TABLE {schema_editor.quote_name(table)} DROP CONSTRAINT {schema_editor.quote_name(name)}"
        )


def restore_old_unique(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("rewards", "PointEntry")._meta.db_table
    if not _unique_constraints_on_reverses(schema_editor, table):
        schema_editor.execute(
            f"ALTER TABLE {schema_editor.quote_name(table)} ADD CONSTRAINT {schema_editor.quote_name(OLD_UNIQUE)} "
            'UNIQUE ("reverses_id")'
        )


class Migration(migrations.Migration):
    """Each entry can still be reversed only once, but the uniqueness now covers only the entries that reverse
    one: the one-to-one field's unique index took an entry for every posting, almost all of them NULL."""

    dependencies = [
        ("rewards", "0003_point_entry_lean_indexes"),
    ]

    operations = [
        # The new constraint first, so the rule is never without an index enforcing it.
        migrations.AddConstraint(
            model_name="pointentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("reverses__isnull", False)), fields=("reverses",), name="point_entry_reversed_once"
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="pointentry",
                    name="reverses",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reversed_by",
                        to="rewards.pointentry",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_old_unique, restore_old_unique)],
        ),
    ]
