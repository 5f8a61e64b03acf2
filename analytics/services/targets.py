"""KPI targets: operators set them; a daily job checks each over its window and tells operators when one is missed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from analytics.models import KpiTarget, KpiTargetCheck
from community import domain_events, roles
from community.errors import ServiceError
from community.services import audit_record, model_snapshot, notify
from members.models import Member

TARGET_FIELDS = ("kpi", "comparison", "value", "window_days", "is_active")
KIND_TARGET_MISSED = "kpi_target_missed"


def kpi_target_set(
    *,
    actor: Any,
    kpi: str,
    comparison: str,
    value: float,
    window_days: int = 30,
    is_active: bool = True,
) -> KpiTarget:
    """Create or change the target of one KPI (one target per KPI)."""
    from analytics.selectors.kpis import KPIS

    if kpi not in KPIS:
        raise ServiceError(_("Unknown KPI."), field="kpi")
    if comparison not in KpiTarget.Comparison.values:
        raise ServiceError(_("Choose at least or at most."), field="comparison")
    if not 1 <= window_days <= 366:
        raise ServiceError(_("The window must be between 1 and 366 days."), field="window_days")
    with transaction.atomic():
        target = KpiTarget.objects.select_for_update().filter(kpi=kpi).first()
        before = model_snapshot(target, TARGET_FIELDS) if target else None
        if target is None:
            target = KpiTarget(kpi=kpi, created_by=actor if getattr(actor, "is_authenticated", False) else None)
        target.comparison, target.value, target.window_days, target.is_active = (
            comparison,
            value,
            window_days,
            is_active,
        )
        try:
            with transaction.atomic():
                target.save()
        except IntegrityError:
            raise ServiceError(_("This KPI has a target already."), field="kpi") from None
        audit_record(
            actor=actor, action="analytics.kpi_target.set", obj=target, before=before,
            after=model_snapshot(target, TARGET_FIELDS),
        )  # fmt: skip
    return target


def kpi_target_delete(*, actor: Any, target: KpiTarget) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="analytics.kpi_target.delete", obj=target, before=model_snapshot(target))
        target.delete()


def operators_to_notify() -> list[Member]:
    """Members whose account is an active operator (superusers included)."""
    users = get_user_model().objects.filter(is_active=True, is_staff=True, member__isnull=False)
    return [
        user.member
        for user in users.select_related("member").prefetch_related("groups")
        if user.is_superuser or any(group.name == roles.OPERATOR for group in user.groups.all())
    ]


def kpi_targets_check(*, day: date) -> list[KpiTargetCheck]:
    """Check every active target over the `window_days` ending on `day`; notify operators of each one missed.

    Recorded once per target and day: running the job again for the same day notifies nobody twice.
    """
    from analytics.selectors.kpis import KPIS, kpi_value
    from analytics.selectors.scope import Period

    checks = []
    recipients: list[Member] | None = None
    for target in KpiTarget.objects.filter(is_active=True).order_by("kpi"):
        if target.kpi not in KPIS:
            continue
        period = Period(day - timedelta(days=target.window_days - 1), day)
        value = kpi_value(target.kpi, period=period)
        met = target.is_met(value)
        with transaction.atomic():
            check, created = KpiTargetCheck.objects.get_or_create(
                target=target, day=day, defaults={"value": value, "met": met}
            )
            checks.append(check)
            if not created or met is not False:
                continue
            kpi = KPIS[target.kpi]
            payload = {
                "kpi": target.kpi,
                "day": day.isoformat(),
                "value": value,
                "target": target.value,
                "comparison": target.comparison,
                "window_days": target.window_days,
            }
            domain_events.publish("kpi.target_missed", payload)
            recipients = operators_to_notify() if recipients is None else recipients
            for operator in recipients:
                notify(
                    member=operator,
                    kind=KIND_TARGET_MISSED,
                    context={**payload, "label": str(kpi.label), "comparison_label": target.get_comparison_display()},
                    url="/analytics/",
                )
    return checks
