"""Points expiry: earned points lapse some months after they were earned, oldest first (FIFO).

Each earn entry is a lot. A lot expires at its own `expires_at` when the award set one, otherwise N months after
it was earned (N from RewardsSettings; empty = never). Spending, deductions, earlier expiry and reversals use up
the oldest lots first, so what must expire now for a member is

    max(0, X - C)

where X is the points earned in lots whose expiry has passed and C is everything consumed so far (the negated sum
of every non-earn entry: spent - refunded + deducted + expired + reversed earns). Both come from one grouped query
over the ledger, recomputed under the members' balance locks before expiring, so a purchase racing the job is
counted. Expiring through `points_expire` with the key `expiry:<member>:<date>` makes a second run the same day a
no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from community import notification_kinds
from community.notification_kinds import NotificationKind
from community.services import notify
from members.models import Member
from rewards.models import MAX_ENTRY_POINTS, PointBalance, PointEntry, PointsExpiryWarning, RewardsSettings
from rewards.services.ledger import points_expire

logger = logging.getLogger(__name__)

POINTS_EXPIRING = notification_kinds.register(
    NotificationKind("points_expiring", gettext_lazy("Points about to expire"))
)

EARN = PointEntry.Kind.EARN
LOCK_BATCH = 200  # members locked and expired per transaction


@dataclass(frozen=True)
class ExpiryRun:
    members: int
    points: int


@dataclass(frozen=True)
class ExpiryForecast:
    points: int  # points that will expire in the window unless spent first
    dates: tuple[date, ...]  # the dates in the window on which some of them expire, earliest first

    @property
    def first_date(self) -> date:
        return self.dates[0]


def _expired_lots(*, as_of: datetime, months: int | None) -> Q:
    """Earn entries whose expiry has passed at `as_of`."""
    due = Q(expires_at__isnull=False, expires_at__lte=as_of)
    if months:
        due |= Q(expires_at__isnull=True, created_at__lte=as_of - relativedelta(months=months))
    return Q(kind=EARN) & due


def _lot_expiry(*, created_at: datetime, expires_at: datetime | None, months: int | None) -> datetime | None:
    if expires_at is not None:
        return expires_at
    return created_at + relativedelta(months=months) if months else None


def _consumed() -> Sum:
    return Sum(F("spendable_delta") * -1, filter=~Q(kind=EARN))


def points_due_to_expire(
    *, as_of: datetime | None = None, months: int | None = None, member_ids: Sequence[int] | None = None
) -> dict[int, int]:
    """member id -> points that must expire at `as_of`, for every member with any (one grouped query)."""
    as_of = as_of or timezone.now()
    due = _expired_lots(as_of=as_of, months=months)
    entries = PointEntry.objects.all()
    if member_ids is not None:
        entries = entries.filter(member_id__in=member_ids)
    else:  # only members with at least one lot past its expiry take part
        entries = entries.filter(member_id__in=PointEntry.objects.filter(due).values("member_id"))
    rows = (
        entries.values("member_id")
        .annotate(expired=Coalesce(Sum("spendable_delta", filter=due), 0), consumed=Coalesce(_consumed(), 0))
        .filter(expired__gt=F("consumed"))
        .values_list("member_id", "expired", "consumed")
    )
    return {member_id: expired - consumed for member_id, expired, consumed in rows}


def points_expire_run(*, as_of: datetime | None = None) -> ExpiryRun:
    """Expire every member's points that are due (the daily job). Safe to run again: the same day expires once."""
    as_of = as_of or timezone.now()
    months = RewardsSettings.load().points_expire_after_months
    candidates = sorted(points_due_to_expire(as_of=as_of, months=months))
    day = timezone.localdate(as_of).isoformat()
    members_expired = points_expired = 0
    for start in range(0, len(candidates), LOCK_BATCH):
        batch = candidates[start : start + LOCK_BATCH]
        with transaction.atomic():
            # Lock the balances (in id order, so two runs cannot deadlock), then recompute: a purchase that
            # committed since the first read has used up old lots and must not be expired again.
            list(
                PointBalance.objects.select_for_update()
                .filter(member_id__in=batch)
                .order_by("member_id")
                .values_list("member_id", flat=True)
            )
            amounts = points_due_to_expire(as_of=as_of, months=months, member_ids=batch)
            members = Member.objects.in_bulk(list(amounts))
            for member_id, amount in sorted(amounts.items()):
                result = points_expire(
                    member=members[member_id],
                    amount=min(amount, MAX_ENTRY_POINTS),
                    reason=_("Points expired"),
                    idempotency_key=f"expiry:{member_id}:{day}",
                )
                if result.created:
                    members_expired += 1
                    points_expired += -result.entry.spendable_delta
    if members_expired:
        logger.info("Expired %d points of %d members", points_expired, members_expired)
    return ExpiryRun(members_expired, points_expired)


def expiry_forecast(
    *, as_of: datetime | None = None, until: datetime, months: int | None, member_ids: Sequence[int] | None = None
) -> dict[int, ExpiryForecast]:
    """member id -> the points that will expire after `as_of` and by `until` if not spent first, with the first
    date that happens. One grouped query finds who is at risk, one more reads their lots in the window."""
    as_of = as_of or timezone.now()
    due_now = _expired_lots(as_of=as_of, months=months)
    due_by_end = _expired_lots(as_of=until, months=months)
    entries = PointEntry.objects.all()
    if member_ids is not None:
        entries = entries.filter(member_id__in=member_ids)
    else:
        entries = entries.filter(member_id__in=PointEntry.objects.filter(due_by_end & ~due_now).values("member_id"))
    rows = (
        entries.values("member_id")
        .annotate(
            expired=Coalesce(Sum("spendable_delta", filter=due_now), 0),
            expiring=Coalesce(Sum("spendable_delta", filter=due_by_end), 0),
            consumed=Coalesce(_consumed(), 0),
        )
        .filter(expiring__gt=F("consumed"))
        .values_list("member_id", "expired", "expiring", "consumed")
    )
    at_risk: dict[int, tuple[int, int, int]] = {}
    for member_id, expired, expiring, consumed in rows:
        points = max(0, expiring - consumed) - max(0, expired - consumed)
        if points > 0:
            at_risk[member_id] = (points, expired, consumed)
    if not at_risk:
        return {}
    lots = PointEntry.objects.filter(due_by_end & ~due_now, member_id__in=list(at_risk)).values_list(
        "member_id", "created_at", "expires_at", "spendable_delta"
    )
    by_member: dict[int, list[tuple[datetime, int]]] = {}
    for member_id, created_at, expires_at, amount in lots:
        moment = _lot_expiry(created_at=created_at, expires_at=expires_at, months=months)
        if moment is not None:
            by_member.setdefault(member_id, []).append((moment, amount))
    forecasts: dict[int, ExpiryForecast] = {}
    for member_id, (points, expired, consumed) in at_risk.items():
        # Oldest first: lots in the window that what was consumed does not cover are at risk.
        covered = expired
        dates: list[date] = []
        for moment, amount in sorted(by_member.get(member_id, [])):
            covered += amount
            day = timezone.localdate(moment)
            if covered > consumed and (not dates or dates[-1] != day):
                dates.append(day)
        if dates:
            forecasts[member_id] = ExpiryForecast(points, tuple(dates))
    return forecasts


def expiry_forecast_for_member(*, member: Member, as_of: datetime | None = None) -> ExpiryForecast | None:
    """What the member will lose within the warning window, for the portal."""
    as_of = as_of or timezone.now()
    settings_row = RewardsSettings.load()
    until = as_of + timedelta(days=settings_row.warning_days)
    return expiry_forecast(
        as_of=as_of, until=until, months=settings_row.points_expire_after_months, member_ids=[member.pk]
    ).get(member.pk)


def _points_url() -> str:
    try:
        return reverse("rewards:points")
    except NoReverseMatch:  # the points page belongs to another part of the portal
        return reverse("rewards:shop")


def points_expiry_warn(*, as_of: datetime | None = None) -> int:
    """Tell members whose points expire within the warning window (the daily job). A warning covers every expiry
    date up to the end of its window, so no date is warned about twice. Returns how many were sent."""
    as_of = as_of or timezone.now()
    settings_row = RewardsSettings.load()
    until = as_of + timedelta(days=settings_row.warning_days)
    forecasts = expiry_forecast(as_of=as_of, until=until, months=settings_row.points_expire_after_months)
    if not forecasts:
        return 0
    covered = dict(
        PointsExpiryWarning.objects.filter(member_id__in=list(forecasts))
        .values("member_id")
        .annotate(latest=Max("covers_until"))
        .values_list("member_id", "latest")
    )
    # The first date at risk that no earlier warning covered; members with none are skipped.
    due: dict[int, tuple[date, ExpiryForecast]] = {}
    for member_id, forecast in forecasts.items():
        latest = covered.get(member_id)
        first_new = next((day for day in forecast.dates if latest is None or day > latest), None)
        if first_new is not None:
            due[member_id] = (first_new, forecast)
    members = Member.objects.select_related("user").in_bulk(list(due))
    covers_until = timezone.localdate(until)
    url = _points_url()
    sent = 0
    for member_id, (first_new, forecast) in sorted(due.items()):
        try:
            with transaction.atomic():
                PointsExpiryWarning.objects.create(
                    member_id=member_id, expires_on=first_new, covers_until=covers_until, points=forecast.points
                )
                notify(
                    member=members[member_id],
                    kind=POINTS_EXPIRING.key,
                    url=url,
                    context={"points": forecast.points, "expires_on": forecast.first_date, "until": covers_until},
                )
        except IntegrityError:  # a concurrent run warned about this date first
            continue
        sent += 1
    return sent
