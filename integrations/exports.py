"""Warehouse exports: members, activity, ledger, feedback and KPI rollups as CSV or JSON, streamed.

Rows come from `.values_list(...).iterator()` (a server-side cursor on PostgreSQL), are encoded one at a time
and handed to a `StreamingHttpResponse`, so a table never sits in memory whole.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet

CHUNK_SIZE = 2000


@dataclass(frozen=True)
class Export:
    name: str
    description: str
    # () → (column names, queryset of value tuples); None when the app is not installed yet.
    source: Callable[[], tuple[list[str], QuerySet] | None]


def _model_source(label: str, columns: list[str] | None = None) -> Callable[[], tuple[list[str], QuerySet] | None]:
    def source() -> tuple[list[str], QuerySet] | None:
        try:
            model = apps.get_model(label)
        except LookupError:
            return None
        names = columns or [field.attname for field in model._meta.concrete_fields]
        return names, model._default_manager.order_by("pk").values_list(*names)

    return source


EXPORTS: dict[str, Export] = {
    export.name: export
    for export in (
        Export(
            "members",
            "Members: id, e-mail, status, segment, language, time zone, joined and left.",
            _model_source(
                "members.Member",
                [
                    "id",
                    "display_name",
                    "user__email",
                    "status",
                    "segment",
                    "locale",
                    "time_zone",
                    "joined_at",
                    "left_at",
                ],
            ),
        ),
        Export(
            "activity",
            "The activity stream: one row per member action.",
            _model_source(
                "community.Activity",
                ["id", "member_id", "verb", "occurred_at", "local_date", "target_id", "dedupe_key", "data"],
            ),
        ),
        Export(
            "ledger",
            "The points ledger: one row per entry.",
            _model_source(
                "rewards.PointEntry",
                [
                    "id",
                    "member_id",
                    "kind",
                    "lifetime_delta",
                    "spendable_delta",
                    "reason",
                    "idempotency_key",
                    "created_at",
                ],
            ),
        ),
        Export("feedback", "Feedback items, every stored column.", _model_source("feedback.FeedbackItem")),
        Export("kpi-days", "Daily KPI rollups by segment.", _model_source("analytics.DaySegment")),
        Export("kpi-verbs", "Daily activity counts by verb.", _model_source("analytics.DayVerb")),
        Export(
            "kpi-targets", "KPI target checks: met or missed, per period.", _model_source("analytics.KpiTargetCheck")
        ),
    )
}
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run a cell as a formula
    return value


def stream_csv(columns: list[str], rows: QuerySet) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for count, row in enumerate(rows.iterator(chunk_size=CHUNK_SIZE), start=1):
        writer.writerow([_csv_cell(value) for value in row])
        if count % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def stream_json(columns: list[str], rows: QuerySet) -> Iterator[bytes]:
    """A JSON array of objects, written row by row."""
    yield b"["
    first = True
    for row in rows.iterator(chunk_size=CHUNK_SIZE):
        text = json.dumps(dict(zip(columns, row, strict=True)), cls=DjangoJSONEncoder, ensure_ascii=False)
        yield (text if first else "," + text).encode()
        first = False
    yield b"]"


def export_stream(name: str, fmt: str) -> tuple[Iterator[bytes], str] | None:
    export = EXPORTS.get(name)
    if export is None or fmt not in FORMATS:
        return None
    found = export.source()
    if found is None:
        return None
    columns, rows = found
    stream = stream_csv(columns, rows) if fmt == "csv" else stream_json(columns, rows)
    return stream, FORMATS[fmt]
