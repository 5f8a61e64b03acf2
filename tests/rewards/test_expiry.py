"""Points expiry: oldest points first, worked by hand; idempotent runs; warnings sent once per expiry date."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from community.models import Notification
from rewards import selectors
from rewards.models import PointEntry, PointsExpiryWarning, RewardsSettings
from rewards.services import expiry, points_award, points_refund, points_reverse, points_spend
from rewards.tasks.shop import points_expiry_run, points_expiry_warn
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Asia/Shanghai")


def moment(month: int, day: int, year: int = 2025) -> datetime:
    return datetime(year, month, day, 12, 0, tzinfo=TZ)


def backdate(result, when: datetime):
    """Place a just-posted entry at its point in history (tests only: the ledger stamps entries with now)."""
    PointEntry.objects.filter(pk=result.entry.pk).update(created_at=when)
    return result.entry


def earn(member, amount: int, when: datetime, key: str):
    return backdate(points_award(member=member, amount=amount, reason="earned", idempotency_key=key), when)


def spend(member, amount: int, when: datetime, key: str):
    return backdate(points_spend(member=member, amount=amount, reason="spent", idempotency_key=key), when)


def configure(months: int | None, warning_days: int = 14) -> None:
    settings_row = RewardsSettings.load()
    settings_row.points_expire_after_months = months
    settings_row.warning_days = warning_days
    settings_row.save()


def balances(member) -> tuple[int, int]:
    balance = selectors.balance_for_member(member=member)
    return balance.lifetime, balance.spendable


def expired_total(member) -> int:
    return -sum(PointEntry.objects.filter(member=member, kind="expire").values_list("spendable_delta", flat=True))


def test_the_worked_example_expires_70_in_may_once_then_50_in_june(member):
    configure(3)
    earn(member, 100, moment(1, 10), "jan")
    spend(member, 30, moment(2, 10), "feb")
    earn(member, 50, moment(3, 10), "mar")

    first = expiry.points_expire_run(as_of=moment(5, 20))
    again = expiry.points_expire_run(as_of=moment(5, 20))

    assert (first.members, first.points) == (1, 70)
    assert (again.members, again.points) == (0, 0)
    assert expired_total(member) == 70
    entry = PointEntry.objects.get(member=member, kind="expire")
    assert entry.idempotency_key == f"expiry:{member.pk}:2025-05-20"
    assert balances(member) == (150, 50)  # lifetime (levels) is kept; only spendable expires
    assert expiry.points_expire_run(as_of=moment(5, 21)).points == 0

    assert expiry.points_expire_run(as_of=moment(6, 15)).points == 50
    assert balances(member) == (150, 0)
    assert selectors.ledger_drift() == []


def test_nothing_expires_before_its_time_or_when_expiry_is_off(member):
    earn(member, 100, moment(1, 10), "jan")
    configure(None)
    assert expiry.points_expire_run(as_of=moment(12, 1)).points == 0
    configure(3)
    assert expiry.points_expire_run(as_of=moment(4, 9)).points == 0  # due on 10 April
    assert expiry.points_expire_run(as_of=moment(4, 10, 2025).replace(hour=13)).points == 100


def test_spending_more_than_the_oldest_lot_protects_newer_points(member):
    configure(3)
    earn(member, 100, moment(1, 10), "jan")
    earn(member, 50, moment(3, 10), "mar")
    spend(member, 120, moment(3, 20), "mar-spend")  # uses all of January and 20 of March

    assert expiry.points_expire_run(as_of=moment(5, 1)).points == 0
    assert expiry.points_expire_run(as_of=moment(6, 11)).points == 30
    assert balances(member) == (150, 0)


def test_refunds_go_back_to_the_oldest_lot_and_reversed_earnings_do_not_expire(member, other_member, operator):
    configure(3)
    earn(member, 100, moment(1, 10), "jan")
    spend(member, 100, moment(2, 1), "feb")
    backdate(points_refund(member=member, amount=40, reason="cancelled", idempotency_key="refund"), moment(2, 5))
    mistake = earn(other_member, 80, moment(1, 10), "other-jan")
    backdate(points_reverse(entry=mistake, actor=operator.user, reason="granted by mistake"), moment(1, 11))

    result = expiry.points_expire_run(as_of=moment(5, 1))

    assert (result.members, result.points) == (1, 40)
    assert expired_total(member) == 40 and expired_total(other_member) == 0
    assert selectors.ledger_drift() == []


def test_an_award_with_its_own_expiry_date_lapses_then_even_with_expiry_off(member):
    configure(None)
    points_award(member=member, amount=25, reason="promo", idempotency_key="promo", expires_at=moment(2, 1))
    earn(member, 10, moment(1, 1), "jan")

    assert expiry.points_expire_run(as_of=moment(1, 31)).points == 0
    assert expiry.points_expire_run(as_of=moment(2, 2)).points == 25
    assert balances(member) == (35, 10)


def test_due_amounts_for_many_members_are_one_query():
    configure(3)
    members = MemberFactory.create_batch(12)
    for i, m in enumerate(members):
        earn(m, 10 + i, moment(1, 10), f"jan-{i}")
        if i % 2:
            spend(m, 5, moment(2, 1), f"feb-{i}")

    with CaptureQueriesContext(connection) as captured:
        due = expiry.points_due_to_expire(as_of=moment(5, 1), months=3)

    assert len(captured) == 1
    assert due == {m.pk: 10 + i - (5 if i % 2 else 0) for i, m in enumerate(members)}
    result = expiry.points_expire_run(as_of=moment(5, 1))
    assert result.members == 12 and result.points == sum(due.values())
    assert selectors.ledger_drift() == []


def test_the_daily_tasks_run_on_today(member):
    configure(1)
    earn(member, 10, moment(1, 10, 2020), "long-ago")
    assert points_expiry_run.delay().get() == {"members": 1, "points": 10}
    assert points_expiry_run.delay().get() == {"members": 0, "points": 0}
    assert points_expiry_warn.delay().get() == 0


# --- warnings -------------------------------------------------------------------------------------------------


def test_a_warning_is_sent_once_per_expiry_date(member):
    configure(3, warning_days=14)
    earn(member, 100, moment(1, 10), "jan-10")
    spend(member, 30, moment(2, 1), "feb")
    earn(member, 40, moment(1, 20), "jan-20")

    assert expiry.points_expiry_warn(as_of=moment(3, 20)) == 0  # nothing due before 3 April
    assert expiry.points_expiry_warn(as_of=moment(3, 30)) == 1  # 70 on 10 April (window to 13 April)
    assert expiry.points_expiry_warn(as_of=moment(3, 30)) == 0
    assert expiry.points_expiry_warn(as_of=moment(4, 1)) == 0  # 10 April was covered already

    notice = Notification.objects.get(member=member, kind="points_expiring")
    assert "70" in notice.title
    warning = PointsExpiryWarning.objects.get()
    assert (warning.expires_on, warning.covers_until, warning.points) == (date(2025, 4, 10), date(2025, 4, 13), 70)

    assert expiry.points_expiry_warn(as_of=moment(4, 8)) == 1  # 20 April is new
    assert PointsExpiryWarning.objects.filter(member=member).count() == 2
    assert Notification.objects.filter(member=member, kind="points_expiring").count() == 2


def test_no_warning_when_the_old_points_were_already_spent(member):
    configure(3)
    earn(member, 100, moment(1, 10), "jan")
    spend(member, 100, moment(2, 1), "feb")
    assert expiry.points_expiry_warn(as_of=moment(4, 1)) == 0
    assert expiry.expiry_forecast_for_member(member=member, as_of=moment(4, 1)) is None


def test_the_forecast_excludes_points_already_due(member):
    configure(3)
    earn(member, 100, moment(1, 10), "jan")
    earn(member, 20, moment(2, 1), "feb")
    forecast = expiry.expiry_forecast_for_member(member=member, as_of=moment(4, 20))
    assert forecast is not None
    assert (forecast.points, forecast.first_date) == (20, date(2025, 5, 1))


def test_the_shop_tells_the_member_what_expires_soon(web_member, member):
    configure(1, warning_days=14)
    earn(member, 60, timezone.now() - relativedelta(months=1) + timedelta(days=3), "soon")

    html = web_member.get(reverse("rewards:shop")).content.decode()

    assert "60 points will expire soon" in html
