"""The ledger's references (member, rule, source type, actor, reversed entry) checked once per statement.

A foreign key makes PostgreSQL queue one check per inserted row for each of its five columns, NULL or not, and
run them one by one at commit: for a bulk award of 10,000 entries that is 50,000 trigger calls and 10,000
member look-ups, about as long as the insert itself. Here one statement-level trigger checks every reference
of the statement's new rows at once (a join per referenced table on the distinct values), locking the
referenced rows FOR KEY SHARE as a foreign key does; a deferred trigger on each referenced table refuses
deleting (or re-keying) a row the ledger still points to, as the foreign keys' NO ACTION did. The guard reads
with its transaction's snapshot: under READ COMMITTED (the project's level) it sees an award that committed while
the delete waited for it; a REPEATABLE READ delete would not (a foreign key's own check would), so such deletes
belong in READ COMMITTED transactions, as Django runs them.

Safe on a big ledger: nothing is scanned or rewritten. CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock and
dropping a foreign key an ACCESS EXCLUSIVE lock on the ledger and on the referenced table, each held only for
the catalog change (milliseconds at any size) until the migration commits; lock_timeout makes it give up rather
than queue behind a long reader with every award waiting behind it. The triggers are in place before the
foreign keys go, in one transaction, so the rows are never unchecked (the rows already there were checked by
the foreign keys). Reversing re-adds the foreign keys NOT VALID and then validates them, which reads the whole
ledger under a lock that lets awards go on.

Elsewhere than PostgreSQL the foreign keys stay: the state change (db_constraint=False) has no database part.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

LOCK_TIMEOUT = "10s"
CHECK_FUNCTION = "rewards_point_entry_check_references"
GUARD_FUNCTION = "rewards_point_entry_guard_referenced"
INSERT_TRIGGER = "rewards_point_entry_references_ins"
UPDATE_TRIGGER = "rewards_point_entry_references_upd"

# (column on the ledger, the referenced model, the referenced table's guard trigger)
REFERENCES = (
    ("member_id", "members.Member", "rewards_point_entry_member_guard"),
    ("rule_id", "rewards.PointRule", "rewards_point_entry_rule_guard"),
    ("source_type_id", "contenttypes.ContentType", "rewards_point_entry_source_type_guard"),
    ("actor_id", settings.AUTH_USER_MODEL, "rewards_point_entry_actor_guard"),
    ("reverses_id", "rewards.PointEntry", "rewards_point_entry_reverses_guard"),
)


def _tables(apps):
    ledger = apps.get_model("rewards", "PointEntry")._meta.db_table
    return ledger, [
        (column, apps.get_model(*model.split("."))._meta.db_table, guard) for column, model, guard in REFERENCES
    ]


def _check_sql(quote, ledger, references):
    # Per column: the distinct values the statement wrote, and how many of them name a row that is there (and is
    # now locked against deletion until this transaction ends). FOR KEY SHARE, as a foreign key's check: it waits
    # for a concurrent delete of the row, and under REPEATABLE READ fails on one committed after the snapshot.
    # The columns that are mostly NULL are looked at first, all in one pass, so a single award runs the
    # queries of only the references it sets.
    nullable = [column for column, _table, _guard in references if column != "member_id"]
    present = ", ".join(f"bool_or(n.{quote(column)} IS NOT NULL)" for column in nullable)
    flags = ", ".join(f"has_{column}" for column in nullable)
    blocks = [f"\n  SELECT {present} INTO {flags} FROM new_entries n;"]  # noqa: S608
    for column, table, _guard in references:
        check = f"""
  WITH wanted AS (SELECT DISTINCT n.{quote(column)} AS id FROM new_entries n WHERE n.{quote(column)} IS NOT NULL),
       found AS (SELECT t.id FROM {quote(table)} t WHERE t.id IN (SELECT id FROM wanted) FOR KEY SHARE OF t)
  SELECT (SELECT count(*) FROM wanted) - (SELECT count(*) FROM found) INTO missing;
  IF missing > 0 THEN
    RAISE EXCEPTION 'insert or update on table "{ledger}" violates the reference of "{column}" to "{table}"'
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = missing || ' value(s) of "{column}" name no row of "{table}".';
  END IF;"""  # noqa: S608
        if column in nullable:
            check = f"\n  IF has_{column} THEN{check}\n  END IF;"
        blocks.append(check)
    declared = "".join(f"\n  has_{column} boolean;" for column in nullable)
    return f"""
CREATE FUNCTION {CHECK_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing bigint;{declared}
BEGIN{"".join(blocks)}
  RETURN NULL;
END
$$"""


# The referenced side, for any table: TG_ARGV is (the ledger, its column). Deferred like the foreign keys it
# replaces, so a transaction may delete a row and put it back (or move the entries) before it commits.
GUARD_SQL = f"""
CREATE FUNCTION {GUARD_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  found boolean;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.id IS NOT DISTINCT FROM OLD.id THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE id = $1)', TG_TABLE_SCHEMA, TG_TABLE_NAME)
    INTO found USING OLD.id;
  IF found THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[0], TG_ARGV[1]) INTO found USING OLD.id;
  IF found THEN
    RAISE EXCEPTION 'update or delete on table "%" violates the reference of "%"."%" to it', TG_TABLE_NAME,
      TG_ARGV[0], TG_ARGV[1]
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (id)=(%s) is still referenced from table "%s".', OLD.id, TG_ARGV[0]);
  END IF;
  RETURN NULL;
END
$$"""  # noqa: S608


def _foreign_keys(schema_editor, ledger):
    """{column: constraint name} of the ledger's foreign keys on the referencing columns."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, ledger)
    columns = {column for column, _model, _guard in REFERENCES}
    return {
        info["columns"][0]: name
        for name, info in constraints.items()
        if info["foreign_key"] and len(info["columns"]) == 1 and info["columns"][0] in columns
    }


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    ledger, references = _tables(apps)
    schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    # No parameters: the functions' bodies hold % signs of their own.
    schema_editor.execute(_check_sql(quote, ledger, references), params=None)
    schema_editor.execute(GUARD_SQL, params=None)
    # Transition tables allow one event per trigger: the same check after inserts and after updates.
    for trigger, event in ((INSERT_TRIGGER, "INSERT"), (UPDATE_TRIGGER, "UPDATE")):
        schema_editor.execute(
            f"CREATE TRIGGER {trigger} AFTER {event} ON {quote(ledger)} REFERENCING NEW TABLE AS new_entries "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {CHECK_FUNCTION}()"
        )
    for column, table, guard in references:
        schema_editor.execute(
            f"CREATE CONSTRAINT TRIGGER {guard} AFTER DELETE OR UPDATE OF id ON {quote(table)} "
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {GUARD_FUNCTION}('{ledger}', '{column}')"
        )
    for name in _foreign_keys(schema_editor, ledger).values():
        schema_editor.execute(f"ALTER TABLE {quote(ledger)} DROP CONSTRAINT {quote(name)}")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    ledger, references = _tables(apps)
    schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    existing = _foreign_keys(schema_editor, ledger)
    added = []
    for column, table, guard in references:
        if column not in existing:
            name = f"{ledger}_{column}_fk_{table}"[:63]
            schema_editor.execute(
                f"ALTER TABLE {quote(ledger)} ADD CONSTRAINT {quote(name)} FOREIGN KEY ({quote(column)}) "
                f"REFERENCES {quote(table)} (id) DEFERRABLE INITIALLY DEFERRED NOT VALID"
            )
            added.append(name)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {guard} ON {quote(table)}")
    for trigger in (INSERT_TRIGGER, UPDATE_TRIGGER):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {quote(ledger)}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {CHECK_FUNCTION}()")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {GUARD_FUNCTION}()")
    for name in added:
        schema_editor.execute(f"ALTER TABLE {quote(ledger)} VALIDATE CONSTRAINT {quote(name)}")


def _unconstrained(**kwargs):
    return models.ForeignKey(db_constraint=False, db_index=False, **kwargs)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("members", "0003_recruitment_personas"),
        ("rewards", "0004_point_entry_reversed_once"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="pointentry",
                    name="member",
                    field=_unconstrained(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="point_entries",
                        to="members.member",
                    ),
                ),
                migrations.AlterField(
                    model_name="pointentry",
                    name="rule",
                    field=_unconstrained(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="rewards.pointrule",
                    ),
                ),
                migrations.AlterField(
                    model_name="pointentry",
                    name="source_type",
                    field=_unconstrained(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="contenttypes.contenttype",
                    ),
                ),
                migrations.AlterField(
                    model_name="pointentry",
                    name="actor",
                    field=_unconstrained(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="pointentry",
                    name="reverses",
                    field=_unconstrained(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reversed_by",
                        to="rewards.pointentry",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(install, uninstall)],
        ),
    ]
