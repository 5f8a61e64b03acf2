"""SQL helpers shared by the rewards write paths and reads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL

# From this many ids, an `__in` lookup on PostgreSQL takes them as one array parameter.
ARRAY_IDS_MIN = 50


def int_array_literal(values: Iterable[int | None]) -> str:
    """A PostgreSQL array literal of integers (None as NULL), to pass as one parameter cast to an array type."""
    return "{" + ",".join("NULL" if value is None else str(int(value)) for value in values) + "}"


def ids_in(ids: Iterable[int]) -> Any:
    """The right-hand side of an `id__in` lookup for many ids. On PostgreSQL, from ARRAY_IDS_MIN ids, one array
    parameter: the driver quotes and the ORM compiles each of a thousand placeholders at a cost far above the
    query's own (a bulk award's levels and boards look up every member it moved). Elsewhere, the list."""
    ids = list(ids)
    if connection.vendor != "postgresql" or len(ids) < ARRAY_IDS_MIN:
        return ids
    return RawSQL("SELECT unnest(%s::bigint[])", [int_array_literal(ids)])
