"""The weekly program report: headline KPIs of the last 7 days and their change on the 7 days before, e-mailed
(HTML and text) to every operator in their own language."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from analytics.services.targets import operators_to_notify
from community.models import AuditLog
from community.services import audit_record

REPORT_ACTION = "analytics.weekly_report.send"


def weekly_report_context(*, last_day: date) -> dict[str, Any]:
    from analytics.selectors.kpis import HEADLINE_KPIS, kpis_compute
    from analytics.selectors.scope import Period

    period = Period(last_day - timedelta(days=6), last_day)
    keys = [*HEADLINE_KPIS, "wau", "checkin_rate", "points_issued"]
    return {"period": period, "kpis": kpis_compute(period=period, keys=keys), "site_url": settings.SITE_URL}


def weekly_report_send(*, last_day: date) -> int:
    """Send the report for the 7 days ending on `last_day` to every operator; once per week (a rerun sends
    nothing). Returns how many e-mails were sent."""
    if AuditLog.objects.filter(action=REPORT_ACTION, object_repr=last_day.isoformat()).exists():
        return 0
    sent = 0
    context = None
    for operator in operators_to_notify():
        if not operator.user.email:
            continue
        with translation.override(operator.locale):
            context = weekly_report_context(last_day=last_day)  # labels in the operator's language
            subject = _("Weekly program report, %(start)s - %(end)s") % {
                "start": context["period"].start.isoformat(),
                "end": context["period"].end.isoformat(),
            }
            context = {**context, "subject": subject, "language": translation.get_language()}
            html = render_to_string("analytics/email/weekly_report.html", context)
            text = render_to_string("analytics/email/weekly_report.txt", context)
        message = EmailMultiAlternatives(
            subject=subject, body=text, to=[operator.user.email], from_email=settings.DEFAULT_FROM_EMAIL
        )
        message.attach_alternative(html, "text/html")
        message.send()
        sent += 1
    record = audit_record(actor=None, action=REPORT_ACTION, after={"last_day": last_day.isoformat(), "sent": sent})
    AuditLog.objects.filter(pk=record.pk).update(object_repr=last_day.isoformat())
    return sent
