"""The rewards shop: redeeming, refusals that leave points and stock untouched, fulfilment, cancellation with a
refund, coupon pools, the portal pages and the operators' admin."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from community.errors import ServiceError
from community.models import Activity, AuditLog, Notification
from rewards import selectors
from rewards.models import CouponCode, PointBalance, PointEntry, Redemption, Reward
from rewards.services import shop
from tests.factories import MemberFactory
from tests.rewards.factories_shop import CouponRewardFactory, RedemptionFactory, RewardFactory, give_points, level

pytestmark = pytest.mark.django_db


def spendable(member) -> int:
    return selectors.balance_for_member(member=member).spendable


def redeem(member, reward, key: str | None = None, note: str = ""):
    return shop.reward_redeem(member=member, reward=reward, idempotency_key=key or str(uuid.uuid4()), note=note)


def assert_untouched(member, reward, *, points: int, stock: int) -> None:
    reward.refresh_from_db()
    assert spendable(member) == points
    assert reward.stock == stock
    assert not Redemption.objects.filter(member=member).exists()
    assert not PointEntry.objects.filter(member=member, kind=PointEntry.Kind.SPEND).exists()


# --- redeeming ------------------------------------------------------------------------------------------------


def test_redeeming_a_gift_takes_points_and_stock_and_waits_for_fulfilment(member):
    give_points(member, 250)
    reward = RewardFactory(price=100, stock=3)

    result = redeem(member, reward, note="Room 4, Building 2")

    redemption = result.redemption
    assert result.created
    assert (redemption.status, redemption.price_paid, redemption.note) == ("pending", 100, "Room 4, Building 2")
    assert redemption.coupon_code is None and redemption.fulfilled_at is None
    reward.refresh_from_db()
    assert reward.stock == 2
    assert spendable(member) == 150
    entry = PointEntry.objects.get(member=member, kind=PointEntry.Kind.SPEND)
    assert (entry.spendable_delta, entry.lifetime_delta) == (-100, 0)
    assert entry.idempotency_key == f"redemption:{redemption.pk}"
    assert AuditLog.objects.filter(action="redemption.create", object_id=str(redemption.pk)).exists()
    assert Activity.objects.filter(member=member, verb="reward_redeemed").count() == 1
    assert selectors.ledger_drift() == []


def test_redeeming_a_coupon_assigns_the_next_free_code_and_is_fulfilled_at_once(member, other_member):
    give_points(member, 100)
    give_points(other_member, 100)
    reward = CouponRewardFactory(price=30, codes=3)
    first_code = CouponCode.objects.filter(reward=reward).order_by("id").first()

    first = redeem(member, reward).redemption
    second = redeem(other_member, reward).redemption

    assert first.status == "fulfilled" and first.fulfilled_at is not None
    assert first.coupon_code == first_code
    assert second.coupon_code is not None and second.coupon_code != first.coupon_code
    assert CouponCode.objects.get(pk=first_code.pk).redemption == first
    reward.refresh_from_db()
    assert reward.stock == 1 == CouponCode.objects.filter(reward=reward, redemption__isnull=True).count()


def test_the_same_idempotency_key_redeems_once(member):
    give_points(member, 500)
    reward = RewardFactory(price=100, stock=5)

    first = redeem(member, reward, key="double-click")
    again = redeem(member, reward, key="double-click")

    assert first.created and not again.created
    assert again.redemption.pk == first.redemption.pk
    assert Redemption.objects.filter(member=member).count() == 1
    assert spendable(member) == 400
    reward.refresh_from_db()
    assert reward.stock == 4


def test_an_idempotency_key_used_for_another_reward_is_refused(member):
    give_points(member, 500)
    redeem(member, RewardFactory(price=100), key="k")
    other = RewardFactory(price=50)

    with pytest.raises(ServiceError) as error:
        redeem(member, other, key="k")

    assert error.value.code == "idempotency_conflict"
    assert spendable(member) == 400


def test_two_members_may_use_the_same_key(member, other_member):
    give_points(member, 100)
    give_points(other_member, 100)
    reward = RewardFactory(price=100)

    assert redeem(member, reward, key="same").created
    assert redeem(other_member, reward, key="same").created


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"stock": 0}, "out_of_stock"),
        ({"price": 1000}, "insufficient_points"),
        ({"min_level": ("Core", 5000)}, "level_too_low"),
        ({"is_active": False}, "not_available"),
        ({"available_from": timedelta(days=1)}, "not_available"),
        ({"available_until": timedelta(days=-1), "available_from": timedelta(days=-5)}, "not_available"),
    ],
)
def test_each_refusal_has_a_clear_code_and_leaves_points_and_stock_untouched(member, setup, code):
    level("Newcomer", 0)
    give_points(member, 500)
    values = {k: timezone.now() + v if isinstance(v, timedelta) else v for k, v in setup.items()}
    if "min_level" in values:
        values["min_level"] = level(*values["min_level"])
    reward = RewardFactory(**{"price": 100, "stock": 5, **values})
    stock = reward.stock

    with pytest.raises(ServiceError) as error:
        redeem(member, reward)

    assert error.value.code == code
    assert error.value.message
    assert_untouched(member, reward, points=500, stock=stock)


def test_a_member_without_any_points_is_told_so(member):
    reward = RewardFactory(price=10)
    with pytest.raises(ServiceError) as error:
        redeem(member, reward)
    assert error.value.code == "insufficient_points"
    assert "10" in error.value.message
    assert not PointBalance.objects.filter(member=member).exists()


def test_the_level_requirement_compares_the_level_held_with_the_one_required(member, other_member):
    level("Newcomer", 0)
    core = level("Core", 1000)
    level("Super", 5000)
    give_points(member, 1000)
    give_points(other_member, 999)
    redeem(member, RewardFactory(price=900))  # spending keeps the level: it rests on lifetime points
    vip = RewardFactory(price=50, min_level=core)

    assert redeem(member, vip).created
    with pytest.raises(ServiceError) as error:
        redeem(other_member, vip)
    assert error.value.code == "level_too_low"
    assert "Core" in error.value.message and "Newcomer" in error.value.message
    assert spendable(other_member) == 999


def test_a_member_without_any_level_is_refused_a_level_reward(member):
    give_points(member, 100)  # no ladder yet, so no level
    with pytest.raises(ServiceError) as error:
        redeem(member, RewardFactory(price=10, min_level=level("Core", 1000)))
    assert error.value.code == "level_too_low"


def test_the_per_member_limit_counts_only_active_redemptions(member, operator):
    give_points(member, 1000)
    reward = RewardFactory(price=100, stock=10, per_member_limit=2)
    first = redeem(member, reward).redemption
    redeem(member, reward)

    with pytest.raises(ServiceError) as error:
        redeem(member, reward)
    assert error.value.code == "limit_reached"
    assert spendable(member) == 800

    shop.redemption_cancel(redemption=first, actor=operator.user, reason="Wrong size")
    assert redeem(member, reward).created


def test_a_coupon_with_stock_but_no_free_code_is_refused_without_selling(member):
    give_points(member, 100)
    reward = CouponRewardFactory(price=10, codes=1)
    Reward.objects.filter(pk=reward.pk).update(stock=2)  # out of step on purpose
    redeem(member, reward)

    with pytest.raises(ServiceError) as error:
        redeem(member, reward)

    assert error.value.code == "out_of_stock"
    assert spendable(member) == 90
    reward.refresh_from_db()
    assert reward.stock == 1


def test_bad_keys_and_long_notes_are_field_errors(member):
    give_points(member, 100)
    reward = RewardFactory(price=10)
    for key in ("", "   ", "x" * 101):
        with pytest.raises(ServiceError) as error:
            redeem(member, reward, key=key or " ")
        assert error.value.field == "idempotency_key"
    with pytest.raises(ServiceError) as error:
        redeem(member, reward, note="x" * 1001)
    assert error.value.field == "note"
    assert spendable(member) == 100


# --- prices and the catalogue ---------------------------------------------------------------------------------


@pytest.mark.parametrize("price", [0, -5, 10_000_001, 2**63, 1.5, True, "10"])
def test_a_bad_price_is_refused_with_a_field_error(operator, price):
    with pytest.raises(ServiceError) as error:
        shop.reward_create(actor=operator.user, kind="gift", name="Mug", price=price, stock=1)
    assert error.value.field == "price"
    assert not Reward.objects.exists()


@pytest.mark.parametrize(("field", "value"), [("price", 0), ("price", -1), ("stock", -1)])
def test_the_database_refuses_a_non_positive_price_or_negative_stock(field, value):
    reward = RewardFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Reward.objects.filter(pk=reward.pk).update(**{field: value})


def test_reward_create_and_update_are_audited_and_guard_stock(operator):
    reward = shop.reward_create(actor=operator.user, kind="gift", name="T-shirt", price=300, stock=20)
    assert AuditLog.objects.filter(action="reward.create", object_id=str(reward.pk)).exists()

    updated = shop.reward_update(reward=reward, actor=operator.user, stock=25, expected_stock=20)
    assert updated.stock == 25
    with pytest.raises(ServiceError) as error:
        shop.reward_update(reward=reward, actor=operator.user, stock=30, expected_stock=20)
    assert error.value.field == "stock" and "25" in error.value.message

    coupon = shop.reward_create(actor=operator.user, kind="coupon", name="¥20", price=200)
    with pytest.raises(ServiceError) as error:
        shop.reward_update(reward=coupon, actor=operator.user, stock=10)
    assert error.value.field == "stock"
    with pytest.raises(ServiceError):
        shop.reward_create(actor=operator.user, kind="coupon", name="¥50", price=500, stock=5)


def test_the_kind_of_a_reward_with_redemptions_cannot_change(member, operator):
    give_points(member, 100)
    reward = RewardFactory(price=10)
    redeem(member, reward)
    with pytest.raises(ServiceError) as error:
        shop.reward_update(reward=reward, actor=operator.user, kind="coupon")
    assert error.value.field == "kind"


def test_availability_dates_must_be_in_order(operator):
    now = timezone.now()
    with pytest.raises(ServiceError):
        shop.reward_create(
            actor=operator.user,
            kind="ticket",
            name="Meetup",
            price=10,
            stock=1,
            available_from=now,
            available_until=now - timedelta(days=1),
        )


# --- coupon pools ---------------------------------------------------------------------------------------------


def test_importing_codes_dedupes_reports_and_stock_follows_the_pool(operator):
    reward = CouponRewardFactory(codes=0)
    CouponCode.objects.create(reward=reward, code="OLD-1")
    Reward.objects.filter(pk=reward.pk).update(stock=1)

    result = shop.coupon_codes_import(
        reward=reward, codes=["NEW-1", " NEW-2 ", "", "NEW-1", "OLD-1", "has space", "x" * 101], actor=operator.user
    )

    assert result.added == 2
    assert sorted(result.duplicates) == ["NEW-1", "OLD-1"]
    assert len(result.invalid) == 2
    reward.refresh_from_db()
    assert reward.stock == 3 == CouponCode.objects.filter(reward=reward, redemption__isnull=True).count()
    assert AuditLog.objects.filter(action="reward.codes_import", actor=operator.user).exists()


def test_only_coupons_take_codes(operator):
    with pytest.raises(ServiceError):
        shop.coupon_codes_import(reward=RewardFactory(), codes=["A"], actor=operator.user)


def test_withdrawing_codes_removes_only_unused_ones_and_lowers_stock(member, operator):
    give_points(member, 100)
    reward = CouponRewardFactory(price=10, codes=3)
    taken = redeem(member, reward).redemption.coupon_code

    removed = shop.coupon_codes_withdraw(
        reward=reward, code_ids=CouponCode.objects.values_list("pk", flat=True), actor=operator.user
    )

    assert removed == 2
    reward.refresh_from_db()
    assert reward.stock == 0
    assert list(CouponCode.objects.all()) == [taken]


# --- fulfilment and cancellation ------------------------------------------------------------------------------


def test_fulfilling_notifies_the_member_once_and_is_audited(member, operator):
    give_points(member, 100)
    redemption = redeem(member, RewardFactory(price=50, name="Hearth T-shirt")).redemption

    shop.redemption_fulfil(redemption=redemption, actor=operator.user)
    shop.redemption_fulfil(redemption=redemption, actor=operator.user)

    redemption.refresh_from_db()
    assert redemption.status == "fulfilled" and redemption.fulfilled_at is not None
    assert redemption.changed_by == operator.user
    notices = Notification.objects.filter(member=member, kind="redemption_fulfilled")
    assert notices.count() == 1
    assert "Hearth T-shirt" in notices.get().title
    assert notices.get().url == reverse("rewards:shop_redemption", args=[redemption.pk])
    assert AuditLog.objects.filter(action="redemption.fulfil", actor=operator.user).count() == 1


def test_a_cancelled_redemption_cannot_be_fulfilled(member, operator):
    give_points(member, 100)
    redemption = redeem(member, RewardFactory(price=50)).redemption
    shop.redemption_cancel(redemption=redemption, actor=operator.user, reason="Sold out at the supplier")

    with pytest.raises(ServiceError) as error:
        shop.redemption_fulfil(redemption=redemption, actor=operator.user)
    assert error.value.code == "invalid_status"


def test_cancelling_twice_refunds_once_and_returns_the_stock_of_a_pending_gift(member, operator):
    give_points(member, 300)
    reward = RewardFactory(price=120, stock=4)
    redemption = redeem(member, reward).redemption

    first = shop.redemption_cancel(redemption=redemption, actor=operator.user, reason="Out of sizes")
    second = shop.redemption_cancel(redemption=redemption, actor=operator.user, reason="Again")

    assert first.cancelled and first.stock_returned and not second.cancelled
    assert spendable(member) == 300
    assert PointEntry.objects.filter(member=member, kind=PointEntry.Kind.REFUND).count() == 1
    refund = PointEntry.objects.get(kind=PointEntry.Kind.REFUND)
    assert refund.idempotency_key == f"redemption-refund:{redemption.pk}"
    reward.refresh_from_db()
    assert reward.stock == 4
    redemption.refresh_from_db()
    assert (redemption.status, redemption.cancel_reason) == ("cancelled", "Out of sizes")
    notice = Notification.objects.get(member=member, kind="redemption_cancelled")
    assert "Out of sizes" in notice.body and "120" in notice.body
    assert selectors.ledger_drift() == []


def test_cancelling_a_fulfilled_gift_refunds_but_keeps_the_stock(member, operator):
    give_points(member, 100)
    reward = RewardFactory(price=100, stock=1)
    redemption = redeem(member, reward).redemption
    shop.redemption_fulfil(redemption=redemption, actor=operator.user)

    result = shop.redemption_cancel(redemption=redemption, actor=operator.user, reason="Arrived broken")

    assert result.cancelled and not result.stock_returned
    assert spendable(member) == 100
    reward.refresh_from_db()
    assert reward.stock == 0


def test_a_revealed_coupon_code_stays_used_when_cancelled(member, operator):
    give_points(member, 100)
    reward = CouponRewardFactory(price=40, codes=2)
    redemption = redeem(member, reward).redemption
    code = redemption.coupon_code
    assert shop.redemption_codes_reveal(member=member) == 1

    result = shop.redemption_cancel(redemption=redemption, actor=operator.user, reason="Did not work")

    assert not result.stock_returned
    code.refresh_from_db()
    assert code.redemption_id == redemption.pk and code.revealed_at is not None
    reward.refresh_from_db()
    assert reward.stock == 1
    assert spendable(member) == 100


def test_an_unrevealed_coupon_code_goes_back_to_the_pool(member, other_member, operator):
    give_points(member, 100)
    give_points(other_member, 100)
    reward = CouponRewardFactory(price=40, codes=1)
    redemption = redeem(member, reward).redemption
    code = redemption.coupon_code

    result = shop.redemption_cancel(redemption=redemption, actor=operator.user, reason="Redeemed by mistake")

    assert result.stock_returned
    redemption.refresh_from_db()
    assert redemption.coupon_code is None
    reward.refresh_from_db()
    assert reward.stock == 1
    assert redeem(other_member, reward).redemption.coupon_code == code


def test_cancelling_needs_a_reason(member, operator):
    give_points(member, 100)
    redemption = redeem(member, RewardFactory(price=10)).redemption
    with pytest.raises(ServiceError) as error:
        shop.redemption_cancel(redemption=redemption, actor=operator.user, reason="  ")
    assert error.value.field == "reason"
    assert spendable(member) == 90


def test_notifications_render_in_the_members_language(operator):
    member = MemberFactory(locale="zh-hans")
    give_points(member, 100)
    redemption = redeem(member, RewardFactory(price=10, name="马克杯")).redemption
    shop.redemption_fulfil(redemption=redemption, actor=operator.user)
    assert "马克杯" in Notification.objects.get(member=member).title


# --- the portal -----------------------------------------------------------------------------------------------


def _count_queries(client, url: str) -> int:
    from django.db import connection

    assert client.get(url).status_code == 200  # warm-up: first-visit work (settings row, session) is not counted
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_anonymous_visitors_are_sent_to_log_in(client):
    reward = RewardFactory()
    for url in (
        reverse("rewards:shop"),
        reverse("rewards:shop_reward", args=[reward.pk]),
        reverse("rewards:shop_redemptions"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_catalogue_shows_what_can_be_bought_and_my_balance(web_member, member, django_assert_num_queries):
    give_points(member, 345)
    RewardFactory(name="Hearth hoodie", price=500, stock=7, min_level=level("Core", 1000), per_member_limit=1)
    RewardFactory(name="Retired mug", is_active=False)
    RewardFactory(
        name="Old ticket",
        available_from=timezone.now() - timedelta(days=9),
        available_until=timezone.now() - timedelta(days=1),
    )
    url = reverse("rewards:shop")
    few = _count_queries(web_member, url)
    RewardFactory.create_batch(8)

    with django_assert_num_queries(few):
        response = web_member.get(url)

    html = response.content.decode()
    assert "Hearth hoodie" in html and "7 left" in html and "level “Core” or above" in html
    assert "345" in html
    assert "Retired mug" not in html and "Old ticket" not in html


def test_redeeming_from_the_portal_shows_the_code_and_a_double_submit_redeems_once(web_member, member):
    give_points(member, 100)
    reward = CouponRewardFactory(price=40, codes=2, name="¥20 优惠券")
    url = reverse("rewards:shop_reward", args=[reward.pk])
    page = web_member.get(url)
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)

    first = web_member.post(url, {"token": token})
    second = web_member.post(url, {"token": token})

    redemption = Redemption.objects.get(member=member)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("rewards:shop_redemption", args=[redemption.pk])
    assert spendable(member) == 60
    detail = web_member.get(first["Location"])
    assert redemption.coupon_code.code in detail.content.decode()
    assert CouponCode.objects.get(pk=redemption.coupon_code_id).revealed_at is not None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"stock": 0}, "out of stock"),
        ({"price": 999}, "costs 999 points"),
        ({"min_level": True}, "for members at level “Core” or above"),
    ],
)
def test_a_refused_redemption_shows_why_and_keeps_the_points(web_member, member, values, message):
    give_points(member, 100)
    if "min_level" in values:
        values = {"min_level": level("Core", 5000)}
    reward = RewardFactory(**{"price": 50, "stock": 3, **values})

    response = web_member.post(
        reverse("rewards:shop_reward", args=[reward.pk]), {"token": str(uuid.uuid4()), "note": "Desk 7"}
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    assert spendable(member) == 100 and not Redemption.objects.exists()


def test_a_tampered_token_is_a_form_error(web_member, member):
    give_points(member, 100)
    reward = RewardFactory(price=50)
    response = web_member.post(reverse("rewards:shop_reward", args=[reward.pk]), {"token": "not-a-uuid"})
    assert response.status_code == 400
    assert not Redemption.objects.exists()


def test_inactive_rewards_are_not_found(web_member):
    reward = RewardFactory(is_active=False)
    assert web_member.get(reverse("rewards:shop_reward", args=[reward.pk])).status_code == 404


def test_my_redemptions_lists_only_mine_with_codes_at_constant_queries(
    web_member, member, other_member, django_assert_num_queries
):
    give_points(member, 1000)
    give_points(other_member, 1000)
    coupon = CouponRewardFactory(price=10, codes=20)
    mine = redeem(member, coupon).redemption
    theirs = redeem(other_member, coupon).redemption
    url = reverse("rewards:shop_redemptions")
    few = _count_queries(web_member, url)
    for _i in range(6):
        redeem(member, coupon)
        redeem(member, RewardFactory(price=5))

    with django_assert_num_queries(few):
        response = web_member.get(url)

    html = response.content.decode()
    assert mine.coupon_code.code in html
    assert theirs.coupon_code.code not in html
    assert web_member.get(reverse("rewards:shop_redemption", args=[theirs.pk])).status_code == 404


def test_operators_can_shop_too(web_operator, operator):
    give_points(operator, 100)
    RewardFactory(price=10, name="Team lunch")
    assert "Team lunch" in web_operator.get(reverse("rewards:shop")).content.decode()


# --- the operators' admin -------------------------------------------------------------------------------------


def test_the_fulfilment_queue_lists_and_filters_redemptions(web_operator, member):
    give_points(member, 500)
    pending = redeem(member, RewardFactory(price=10, name="Sticker pack")).redemption
    url = reverse("admin:rewards_redemption_changelist")

    response = web_operator.get(url, {"status__exact": "pending"})

    assert response.status_code == 200
    assert "Sticker pack" in response.content.decode()
    assert web_operator.get(reverse("admin:rewards_redemption_change", args=[pending.pk])).status_code == 200


def test_members_cannot_open_the_admin(web_member):
    response = web_member.get(reverse("admin:rewards_redemption_changelist"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_admin_fulfil_action_goes_through_the_service(web_operator, member, operator):
    give_points(member, 500)
    redemption = redeem(member, RewardFactory(price=10)).redemption

    response = web_operator.post(
        reverse("admin:rewards_redemption_changelist"), {"action": "fulfil", ACTION_CHECKBOX_NAME: [redemption.pk]}
    )

    assert response.status_code == 302
    redemption.refresh_from_db()
    assert redemption.status == "fulfilled" and redemption.changed_by == operator.user
    assert Notification.objects.filter(kind="redemption_fulfilled", member=member).exists()


def test_the_admin_cancel_action_asks_for_a_reason_then_refunds(web_operator, member):
    give_points(member, 500)
    redemption = redeem(member, RewardFactory(price=10)).redemption
    url = reverse("admin:rewards_redemption_changelist")

    confirm = web_operator.post(url, {"action": "cancel_with_refund", ACTION_CHECKBOX_NAME: [redemption.pk]})
    assert confirm.status_code == 200 and "reason" in confirm.content.decode().lower()
    redemption.refresh_from_db()
    assert redemption.status == "pending"

    done = web_operator.post(
        url,
        {
            "action": "cancel_with_refund",
            ACTION_CHECKBOX_NAME: [redemption.pk],
            "apply": "1",
            "reason": "Address incomplete",
        },
    )
    assert done.status_code == 302
    redemption.refresh_from_db()
    assert (redemption.status, redemption.cancel_reason) == ("cancelled", "Address incomplete")
    assert spendable(member) == 500


def test_the_admin_imports_codes_from_text_and_csv(web_operator):
    reward = CouponRewardFactory(codes=0)
    url = reverse("admin:rewards_reward_import_codes", args=[reward.pk])
    assert web_operator.get(url).status_code == 200

    response = web_operator.post(url, {"codes": "A-1\nA-2\nA-1\n"})
    assert response.status_code == 302
    csv_file = SimpleUploadedFile("codes.csv", b"code,note\nB-1,x\nA-2,dup\n", content_type="text/csv")
    web_operator.post(url, {"codes": "", "file": csv_file})

    reward.refresh_from_db()
    assert set(CouponCode.objects.values_list("code", flat=True)) == {"A-1", "A-2", "B-1"}  # header row skipped
    assert reward.stock == 3
    assert web_operator.post(url, {"codes": ""}).status_code == 200  # nothing given: the form says so


def test_the_admin_saves_rewards_through_the_services(web_operator):
    url = reverse("admin:rewards_reward_add")
    data = {
        "kind": "gift",
        "name": "Hearth hoodie",
        "description": "",
        "price": "800",
        "stock": "12",
        "per_member_limit": "",
        "min_level": "",
        "available_from_0": "",
        "available_from_1": "",
        "available_until_0": "",
        "available_until_1": "",
        "is_active": "on",
        "sort_order": "0",
    }

    response = web_operator.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    reward = Reward.objects.get(name="Hearth hoodie")
    assert AuditLog.objects.filter(action="reward.create", object_id=str(reward.pk)).exists()
    bad = web_operator.post(url, {**data, "name": "Free lunch", "price": "0"})
    assert bad.status_code == 200 and not Reward.objects.filter(name="Free lunch").exists()

    change = reverse("admin:rewards_reward_change", args=[reward.pk])
    Reward.objects.filter(pk=reward.pk).update(stock=11)  # a sale while the operator edits
    stale = web_operator.post(change, {**data, "stock": "20", "initial-stock": "12"})
    assert stale.status_code == 200 and "changed to 11" in stale.content.decode()
    saved = web_operator.post(change, {**data, "description": "Warm.", "stock": "12", "initial-stock": "12"})
    assert saved.status_code == 302
    reward.refresh_from_db()
    assert (reward.description, reward.stock) == ("Warm.", 11)


def test_the_settings_page_opens_the_single_row(web_operator):
    response = web_operator.get(reverse("admin:rewards_rewardssettings_changelist"))
    assert response.status_code == 302
    assert web_operator.get(response["Location"]).status_code == 200


def test_factory_redemptions_are_listed_for_operators(web_operator):
    RedemptionFactory.create_batch(3)
    assert web_operator.get(reverse("admin:rewards_redemption_changelist")).status_code == 200


# --- demo data ------------------------------------------------------------------------------------------------


def test_the_demo_seed_builds_a_catalogue_with_redemptions_and_can_run_twice():
    import random

    from rewards.demo import shop as shop_demo

    members = MemberFactory.create_batch(30)
    summary = shop_demo.seed(rng=random.Random(7), members=members)

    assert summary.startswith("shop: 4 rewards, 50 coupon codes")
    coupon = Reward.objects.get(name="¥20 优惠券")
    assert coupon.stock == CouponCode.objects.filter(reward=coupon, redemption__isnull=True).count()
    assert CouponCode.objects.filter(reward=coupon).count() == 50
    assert Redemption.objects.exists()
    assert selectors.ledger_drift() == []
    assert not PointBalance.objects.filter(spendable__lt=0).exists()

    again = shop_demo.seed(rng=random.Random(7), members=members)
    assert "0 coupon codes, 0 redemptions" in again
    assert CouponCode.objects.filter(reward=coupon).count() == 50
