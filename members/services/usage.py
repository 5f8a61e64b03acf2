"""Product-usage data per candidate: CSV import (preview with a report per row, applied only when an operator
confirms) and a bulk upsert for the API. Nothing is dropped silently: every row is reported as imported,
unknown, invalid or duplicate."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import audit_record
from members.models import Application, Round, UsageImport, UsageMetric
from members.services.applications import round_score_soon

COLUMNS = ("email", "active_days_30", "session_minutes", "tenure_days", "paid", "willing_to_pay", "content_created")
METRIC_COLUMNS = COLUMNS[1:]
MAX_ROWS = 50_000
MAX_BYTES = 10 * 1024 * 1024
TRUE = {"1", "true", "yes", "y", "是"}
FALSE = {"0", "false", "no", "n", "否", ""}

OK, UNKNOWN, INVALID, DUPLICATE = "ok", "unknown", "invalid", "duplicate"


@dataclass
class UsageReport:
    rows: list[dict[str, Any]] = field(default_factory=list)  # one entry per input row
    valid: list[dict[str, Any]] = field(default_factory=list)  # cleaned values, ready to upsert

    @property
    def problems(self) -> int:
        return sum(1 for row in self.rows if row["status"] != OK)

    def counts(self) -> dict[str, int]:
        counts = {OK: 0, UNKNOWN: 0, INVALID: 0, DUPLICATE: 0}
        for row in self.rows:
            counts[row["status"]] += 1
        return counts


def _int(value: Any, *, name: str, maximum: int | None = None) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(_("%(column)s must be a whole number.") % {"column": name}) from None
    if number < 0 or (maximum is not None and number > maximum):
        raise ValueError(_("%(column)s is out of range.") % {"column": name})
    return number


def _bool(value: Any, *, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(_("%(column)s must be yes or no.") % {"column": name})


def _clean_metrics(raw: Mapping[str, Any]) -> dict[str, Any]:
    try:
        minutes = Decimal(str(raw.get("session_minutes", "0")).strip() or "0")
    except InvalidOperation:
        raise ValueError(_("%(column)s must be a number.") % {"column": "session_minutes"}) from None
    if not minutes.is_finite() or minutes < 0 or minutes >= Decimal("1000000"):
        raise ValueError(_("%(column)s is out of range.") % {"column": "session_minutes"})
    return {
        "active_days_30": _int(raw.get("active_days_30", 0), name="active_days_30", maximum=30),
        "session_minutes": minutes.quantize(Decimal("0.01")),
        "tenure_days": _int(raw.get("tenure_days", 0), name="tenure_days", maximum=100_000),
        "paid": _bool(raw.get("paid", ""), name="paid"),
        "willing_to_pay": _bool(raw.get("willing_to_pay", ""), name="willing_to_pay"),
        "content_created": _int(raw.get("content_created", 0), name="content_created", maximum=10_000_000),
    }


def usage_rows_check(*, round: Round, rows: Iterable[Mapping[str, Any]], first_row: int = 1) -> UsageReport:
    """Check rows (dicts with an `email` and the metric columns) against the round's applicants, in two queries."""
    rows = list(rows)
    emails = {str(row.get("email") or "").strip().lower() for row in rows}
    applications = dict(
        Application.objects.filter(round=round, member__user__email__in=[e for e in emails if e])
        .exclude(status=Application.Status.WITHDRAWN)
        .values_list("member__user__email", "id")
    )
    applications = {email.lower(): pk for email, pk in applications.items()}
    report = UsageReport()
    seen: dict[str, int] = {}
    for number, raw in enumerate(rows, start=first_row):
        email = str(raw.get("email") or "").strip().lower()
        entry: dict[str, Any] = {"row": number, "email": email, "status": OK, "message": ""}
        report.rows.append(entry)
        if not email:
            entry.update(status=INVALID, message=_("The e-mail address is missing."))
            continue
        if raw.get("_error"):
            entry.update(status=INVALID, message=raw["_error"])
            continue
        if email in seen:
            entry.update(
                status=DUPLICATE, message=_("Same e-mail as row %(row)s; only that row counts.") % {"row": seen[email]}
            )
            continue
        seen[email] = number
        if email not in applications:
            entry.update(status=UNKNOWN, message=_("No application in this round with this e-mail address."))
            continue
        try:
            metrics = _clean_metrics(raw)
        except ValueError as error:
            entry.update(status=INVALID, message=str(error))
            continue
        entry["message"] = _("Ready to import.")
        report.valid.append({"application_id": applications[email], **metrics})
    return report


def usage_csv_parse(content: bytes) -> list[dict[str, str]]:
    """Rows of a usage CSV; a file that is not UTF-8 text or lacks the expected columns is refused as a whole."""
    if len(content) > MAX_BYTES:
        raise ServiceError(_("The file is larger than 10 MB."), field="file")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ServiceError(
            _("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again; nothing was imported."),
            field="file",
            code="encoding",
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in COLUMNS if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(_("missing columns: %(names)s") % {"names": ", ".join(missing)})
        if unknown:
            parts.append(_("unknown columns: %(names)s") % {"names": ", ".join(unknown)})
        raise ServiceError(
            _("The columns are wrong (%(problems)s). Expected: %(expected)s. Nothing was imported.")
            % {"problems": "; ".join(parts), "expected": ", ".join(COLUMNS)},
            field="file",
            code="columns",
        )
    reader.fieldnames = header
    rows = []
    for row in reader:
        if len(rows) >= MAX_ROWS:
            raise ServiceError(_("The file has more than %(max)s rows.") % {"max": MAX_ROWS}, field="file")
        if row.pop(None, None):  # more cells than columns: the row cannot be read safely
            row["_error"] = _("The row has more cells than there are columns.")
        rows.append(row)
    if not rows:
        raise ServiceError(_("The file has no rows."), field="file", code="empty")
    return rows


def _upsert(valid: list[dict[str, Any]]) -> int:
    now = timezone.now()
    UsageMetric.objects.bulk_create(
        [UsageMetric(**row, updated_at=now) for row in valid],
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["application"],
        update_fields=[*METRIC_COLUMNS, "updated_at"],
    )
    return len(valid)


def usage_import_preview(*, round: Round, filename: str, content: bytes, actor: Any) -> UsageImport:
    """Parse and check an uploaded CSV; store the report. Nothing is imported until `usage_import_confirm`."""
    usage_import = UsageImport(round=round, filename=filename[:255], created_by=actor)
    try:
        report = usage_rows_check(round=round, rows=usage_csv_parse(content), first_row=2)  # row 1 is the header
    except ServiceError as error:
        usage_import.error = error.message
    else:
        usage_import.rows = [{**row, "session_minutes": str(row["session_minutes"])} for row in report.valid]
        usage_import.report = report.rows
    with transaction.atomic():
        usage_import.save()
        audit_record(
            actor=actor,
            action="usage_import.preview",
            obj=usage_import,
            after={"valid": len(usage_import.rows), "rows": len(usage_import.report), "error": usage_import.error},
        )
    return usage_import


def usage_import_confirm(*, usage_import: UsageImport, actor: Any) -> int:
    """Import the valid rows of a previewed upload (the operator accepted the report). Returns how many."""
    with transaction.atomic():
        locked = UsageImport.objects.select_for_update().get(pk=usage_import.pk)
        if locked.status != UsageImport.Status.PREVIEW:
            raise ServiceError(_("This upload has been imported already."), code="applied")
        if locked.error or not locked.rows:
            raise ServiceError(_("This upload has no rows that can be imported."), code="nothing")
        # Applications withdrawn since the preview are skipped rather than given data.
        live = set(
            Application.objects.filter(pk__in=[row["application_id"] for row in locked.rows])
            .exclude(status=Application.Status.WITHDRAWN)
            .values_list("pk", flat=True)
        )
        rows = [
            {**row, "session_minutes": Decimal(row["session_minutes"])}
            for row in locked.rows
            if row["application_id"] in live
        ]
        count = _upsert(rows)
        locked.status = UsageImport.Status.APPLIED
        locked.applied_at = timezone.now()
        locked.save(update_fields=["status", "applied_at"])
        audit_record(actor=actor, action="usage_import.confirm", obj=locked, after={"imported": count})
        round_score_soon(round_id=locked.round_id)
    usage_import.status, usage_import.applied_at = locked.status, locked.applied_at
    return count


def usage_metrics_upsert(
    *, round: Round, rows: list[Mapping[str, Any]], actor: Any, allow_partial: bool = False
) -> tuple[int, UsageReport]:
    """The API's bulk path: check every row; import the valid ones only if all are valid or `allow_partial`."""
    report = usage_rows_check(round=round, rows=rows)
    if report.problems and not allow_partial:
        return 0, report
    with transaction.atomic():
        count = _upsert(report.valid)
        audit_record(
            actor=actor,
            action="usage_metrics.upsert",
            obj=round,
            after={"imported": count, "problems": report.problems},
        )
        round_score_soon(round_id=round.pk)
    return count, report
