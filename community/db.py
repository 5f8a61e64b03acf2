"""Database helpers the hot write paths share: a cursor whose statements PostgreSQL prepares once per connection,
and single-row inserts written once per model."""

from __future__ import annotations

import functools
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

# Explicit `prepare=True` only: nothing else on the connection is prepared behind the ORM's back.
_PREPARE_THRESHOLD = 2**31 - 1


@functools.cache
def _prepared_cursor_classes() -> tuple[type, type]:
    import psycopg

    class PreparedCursor(psycopg.Cursor):
        """Binds parameters on the server and prepares each statement once per connection."""

        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None) -> Any:
            return super().execute(query, params, prepare=True, binary=binary)

    class PreparedDebugWrapper(CursorDebugWrapper):
        """Logs the statement with its values merged in, as the default cursor does (with the parameters bound
        on the server there is no merged text to read back afterwards)."""

        def execute(self, sql: Any, params: Any = None) -> Any:
            try:
                logged = self.db.ops.compose_sql(sql, params)
            except Exception:  # a value the client-side quoting cannot render: log the statement as written
                logged = sql
            with self.debug_sql(logged, params):
                return super(CursorDebugWrapper, self).execute(sql, params)

    return PreparedCursor, PreparedDebugWrapper


def prepared_cursor() -> Any:
    """A cursor for the few fixed statements every award runs (PostgreSQL; a plain cursor elsewhere).

    The server parses and plans each of them once per connection instead of on every call, which cost it more
    than running them. Use it only for statements written out once (not built per call), or the connection's
    cache of prepared statements would churn. It goes through Django's cursor wrapper, so query logging,
    execute wrappers and error translation behave as for `connection.cursor()`."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute read through `connection` looks the alias up again
    if db.vendor != "postgresql":
        return db.cursor()
    db.ensure_connection()
    raw = db.connection
    threshold = getattr(raw, "prepare_threshold", False)
    if threshold is False:  # psycopg2 has no prepared statements
        return db.cursor()
    if threshold is None:
        raw.prepare_threshold = _PREPARE_THRESHOLD
    cursor_class, debug_wrapper = _prepared_cursor_classes()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        cursor = cursor_class(raw)
    return debug_wrapper(cursor, db) if db.queries_logged else CursorWrapper(cursor, db)


class RowInsert:
    """One model instance inserted with a statement written once per model: audit records and activities are
    written on every award, and the ORM's save() took longer to build its INSERT than the database took to run it.
    Values are prepared by the fields themselves, as save() would (`pre_save` fills defaults and auto dates)."""

    def __init__(self, model: type[models.Model]) -> None:
        self.fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        self.sql = (
            f"INSERT INTO {model._meta.db_table} ({', '.join(field.column for field in self.fields)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(self.fields))}) RETURNING id"
        )

    def __call__(self, obj: models.Model) -> None:
        params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in self.fields]
        with prepared_cursor() as cursor:
            cursor.execute(self.sql, params)
            obj.pk = cursor.fetchone()[0]
        obj._state.adding = False
        obj._state.db = connection.alias
