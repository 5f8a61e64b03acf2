"""The shop API: catalogue, redeeming with an Idempotency-Key, redemptions (own vs operators'), fulfil and cancel;
every endpoint tried as an anonymous visitor, a member, another member and an operator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rewards import selectors
from rewards.models import PointEntry, Redemption
from rewards.services import shop
from tests.rewards.factories_shop import CouponRewardFactory, RewardFactory, give_points, level

pytestmark = pytest.mark.django_db

REWARDS = "/api/v1/rewards/"
REDEMPTIONS = "/api/v1/redemptions/"


def spendable(member) -> int:
    return selectors.balance_for_member(member=member).spendable


def redeem_via_service(member, reward, key: str):
    return shop.reward_redeem(member=member, reward=reward, idempotency_key=key).redemption


def count_queries(client, url: str) -> int:
    assert client.get(url).status_code == 200  # warm-up
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


# --- the catalogue --------------------------------------------------------------------------------------------


def test_anonymous_callers_get_401_everywhere(api_anon, member):
    give_points(member, 100)
    reward = RewardFactory()
    redemption = redeem_via_service(member, reward, "k")
    for method, url in [
        ("get", REWARDS),
        ("get", f"{REWARDS}{reward.pk}/"),
        ("post", f"{REWARDS}{reward.pk}/redeem/"),
        ("get", REDEMPTIONS),
        ("get", f"{REDEMPTIONS}{redemption.pk}/"),
        ("post", f"{REDEMPTIONS}{redemption.pk}/fulfil/"),
        ("post", f"{REDEMPTIONS}{redemption.pk}/cancel/"),
    ]:
        assert getattr(api_anon, method)(url).status_code == 401, url


def test_members_see_the_live_catalogue_with_their_own_counts(api_member, member, django_assert_num_queries):
    core = level("Core", 10)
    give_points(member, 500)
    hoodie = RewardFactory(name="Hoodie", price=100, per_member_limit=2, sort_order=1, min_level=core)
    RewardFactory(name="Hidden", is_active=False)
    RewardFactory(
        name="Ended",
        available_from=timezone.now() - timedelta(days=3),
        available_until=timezone.now() - timedelta(days=1),
    )
    upcoming = RewardFactory(name="Upcoming", available_from=timezone.now() + timedelta(days=3), sort_order=2)
    redeem_via_service(member, hoodie, "h1")
    few = count_queries(api_member, REWARDS)
    RewardFactory.create_batch(10, sort_order=5)

    with django_assert_num_queries(few):
        response = api_member.get(REWARDS)

    rows = {row["name"]: row for row in response.json()["results"]}
    assert "Hidden" not in rows and "Ended" not in rows
    assert rows["Hoodie"]["my_active_redemptions"] == 1 and rows["Hoodie"]["is_available"] is True
    assert rows["Hoodie"]["stock"] == 9 and rows["Hoodie"]["min_level_name"] == "Core"
    assert rows["Upcoming"]["is_available"] is False
    assert response.json()["results"][0]["name"] == "Hoodie"
    assert api_member.get(f"{REWARDS}{upcoming.pk}/").json()["name"] == "Upcoming"


def test_an_inactive_reward_is_404_for_members_but_visible_to_operators(api_member, api_operator):
    hidden = RewardFactory(is_active=False)
    assert api_member.get(f"{REWARDS}{hidden.pk}/").status_code == 404
    assert api_member.get(f"{REWARDS}not-a-number/").status_code == 404
    assert api_operator.get(f"{REWARDS}{hidden.pk}/").status_code == 200
    names = [row["id"] for row in api_operator.get(REWARDS, {"is_active": "false"}).json()["results"]]
    assert names == [hidden.pk]


def test_the_catalogue_filters_by_kind(api_other):
    CouponRewardFactory(codes=1)
    RewardFactory()
    kinds = {row["kind"] for row in api_other.get(REWARDS, {"kind": "coupon"}).json()["results"]}
    assert kinds == {"coupon"}


# --- redeeming ------------------------------------------------------------------------------------------------


def test_redeeming_a_coupon_returns_its_code_and_a_retry_with_the_key_returns_the_same(api_member, member):
    give_points(member, 100)
    reward = CouponRewardFactory(price=30, codes=2)
    url = f"{REWARDS}{reward.pk}/redeem/"

    first = api_member.post(url, {}, HTTP_IDEMPOTENCY_KEY="order-1")
    again = api_member.post(url, {}, HTTP_IDEMPOTENCY_KEY="order-1")

    assert first.status_code == 201 and again.status_code == 200
    assert first.json() == again.json()
    body = first.json()
    assert body["status"] == "fulfilled" and body["coupon_code"].startswith(f"R{reward.pk}-")
    assert body["reward"] == {"id": reward.pk, "kind": "coupon", "name": reward.name}
    assert spendable(member) == 70
    assert Redemption.objects.get().coupon_code.revealed_at is not None


def test_without_a_key_each_call_is_a_new_redemption(api_member, member):
    give_points(member, 100)
    reward = RewardFactory(price=10)
    url = f"{REWARDS}{reward.pk}/redeem/"
    assert api_member.post(url, {"note": "Desk 4"}).status_code == 201
    assert api_member.post(url, {}).status_code == 201
    assert Redemption.objects.filter(member=member).count() == 2
    assert Redemption.objects.filter(note="Desk 4").count() == 1


def test_a_key_reused_for_another_reward_is_422(api_member, member):
    give_points(member, 100)
    first, second = RewardFactory(price=10), RewardFactory(price=10)
    api_member.post(f"{REWARDS}{first.pk}/redeem/", {}, HTTP_IDEMPOTENCY_KEY="k")
    response = api_member.post(f"{REWARDS}{second.pk}/redeem/", {}, HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422
    assert spendable(member) == 90


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"stock": 0}, "out_of_stock"),
        ({"price": 500}, "insufficient_points"),
        ({"min_level": ("Core", 1000)}, "level_too_low"),
        ({"available_from": timedelta(days=2)}, "not_available"),
    ],
)
def test_refusals_are_400_with_a_code_and_touch_nothing(api_member, member, values, code):
    give_points(member, 100)
    values = {k: timezone.now() + v if isinstance(v, timedelta) else v for k, v in values.items()}
    if "min_level" in values:
        values["min_level"] = level(*values["min_level"])
    reward = RewardFactory(**{"price": 50, "stock": 2, **values})

    response = api_member.post(f"{REWARDS}{reward.pk}/redeem/", {})

    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["non_field_errors"][0]
    assert spendable(member) == 100
    reward.refresh_from_db()
    assert reward.stock == values.get("stock", 2)
    assert not PointEntry.objects.filter(kind=PointEntry.Kind.SPEND).exists()


def test_the_limit_is_enforced_over_the_api(api_member, member):
    give_points(member, 100)
    reward = RewardFactory(price=10, per_member_limit=1)
    url = f"{REWARDS}{reward.pk}/redeem/"
    assert api_member.post(url, {}).status_code == 201
    response = api_member.post(url, {})
    assert response.status_code == 400 and response.json()["code"] == "limit_reached"


def test_bad_input_is_a_field_error(api_member, member):
    give_points(member, 100)
    reward = RewardFactory(price=10)
    url = f"{REWARDS}{reward.pk}/redeem/"
    assert "note" in api_member.post(url, {"note": "x" * 1001}).json()
    response = api_member.post(url, {}, HTTP_IDEMPOTENCY_KEY="k" * 101)
    assert response.status_code == 400 and "idempotency_key" in response.json()
    assert api_member.post(f"{REWARDS}999999/redeem/", {}).status_code == 404
    assert spendable(member) == 100


def test_an_inactive_reward_cannot_be_redeemed(api_member, api_operator, member, operator):
    give_points(member, 100)
    give_points(operator, 100)
    reward = RewardFactory(price=10, is_active=False)
    assert api_member.post(f"{REWARDS}{reward.pk}/redeem/", {}).status_code == 404
    response = api_operator.post(f"{REWARDS}{reward.pk}/redeem/", {})
    assert response.status_code == 400 and response.json()["code"] == "not_available"


# --- redemptions ----------------------------------------------------------------------------------------------


def test_members_list_only_their_own_redemptions_at_constant_queries(
    api_member, member, other_member, django_assert_num_queries
):
    give_points(member, 1000)
    give_points(other_member, 1000)
    coupon = CouponRewardFactory(price=10, codes=30)
    mine = redeem_via_service(member, coupon, "m1")
    theirs = redeem_via_service(other_member, coupon, "o1")
    few = count_queries(api_member, REDEMPTIONS)
    for i in range(8):
        redeem_via_service(member, coupon, f"m-more-{i}")
        redeem_via_service(member, RewardFactory(price=5), f"m-gift-{i}")

    with django_assert_num_queries(few):
        response = api_member.get(REDEMPTIONS)

    rows = response.json()["results"]
    assert len(rows) == 17 and {row["member"] for row in rows} == {member.pk}
    assert next(r for r in rows if r["id"] == mine.pk)["coupon_code"] == mine.coupon_code.code
    assert api_member.get(f"{REDEMPTIONS}{theirs.pk}/").status_code == 404
    assert api_member.get(f"{REDEMPTIONS}{mine.pk}/").json()["coupon_code"] == mine.coupon_code.code


def test_operators_see_every_redemption_with_filters_and_codes(
    api_operator, member, other_member, django_assert_num_queries
):
    give_points(member, 1000)
    give_points(other_member, 1000)
    coupon = CouponRewardFactory(price=10, codes=30)
    gift = RewardFactory(price=10)
    mine = redeem_via_service(member, coupon, "m1")
    redeem_via_service(other_member, gift, "o1")
    few = count_queries(api_operator, REDEMPTIONS)
    for i in range(8):
        redeem_via_service(other_member, gift, f"o-{i}")

    with django_assert_num_queries(few):
        assert api_operator.get(REDEMPTIONS).json()["count"] == 10

    pending = api_operator.get(REDEMPTIONS, {"status": "pending"}).json()["results"]
    assert {row["member"] for row in pending} == {other_member.pk} and len(pending) == 9
    assert [r["id"] for r in api_operator.get(REDEMPTIONS, {"member": member.pk}).json()["results"]] == [mine.pk]
    assert api_operator.get(REDEMPTIONS, {"kind": "coupon"}).json()["count"] == 1
    detail = api_operator.get(f"{REDEMPTIONS}{mine.pk}/").json()
    assert detail["coupon_code"] == mine.coupon_code.code
    assert api_operator.get(REDEMPTIONS, {"status": "lost"}).status_code == 400
    mine.coupon_code.refresh_from_db()
    assert mine.coupon_code.revealed_at is None  # an operator looking does not count as showing the member


def test_fulfil_is_for_operators_only(api_member, api_other, api_operator, member):
    give_points(member, 100)
    redemption = redeem_via_service(member, RewardFactory(price=10), "k")
    url = f"{REDEMPTIONS}{redemption.pk}/fulfil/"

    assert api_member.post(url).status_code == 403
    assert api_other.post(url).status_code == 403
    response = api_operator.post(url)

    assert response.status_code == 200 and response.json()["status"] == "fulfilled"
    assert api_operator.post(f"{REDEMPTIONS}999999/fulfil/").status_code == 404


def test_cancel_is_for_operators_refunds_once_and_needs_a_reason(api_member, api_operator, member):
    give_points(member, 100)
    reward = RewardFactory(price=40, stock=1)
    redemption = redeem_via_service(member, reward, "k")
    url = f"{REDEMPTIONS}{redemption.pk}/cancel/"

    assert api_member.post(url, {"reason": "changed my mind"}).status_code == 403
    assert "reason" in api_operator.post(url, {}).json()
    first = api_operator.post(url, {"reason": "Out of stock at the supplier"})
    second = api_operator.post(url, {"reason": "again"})

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "cancelled"
    assert second.json()["cancel_reason"] == "Out of stock at the supplier"
    assert spendable(member) == 100
    assert PointEntry.objects.filter(kind=PointEntry.Kind.REFUND).count() == 1
    reward.refresh_from_db()
    assert reward.stock == 1


def test_fulfilling_a_cancelled_redemption_is_a_400(api_operator, member, operator):
    give_points(member, 100)
    redemption = redeem_via_service(member, RewardFactory(price=10), "k")
    shop.redemption_cancel(redemption=redemption, actor=operator.user, reason="No")
    response = api_operator.post(f"{REDEMPTIONS}{redemption.pk}/fulfil/")
    assert response.status_code == 400 and response.json()["code"] == "invalid_status"


def test_moderators_and_analysts_are_members_here(moderator, analyst):
    from rest_framework.test import APIClient

    give_points(moderator, 100)
    someone = redeem_via_service(moderator, RewardFactory(price=10), "k")
    client = APIClient()
    client.force_authenticate(analyst.user)
    assert client.get(f"{REDEMPTIONS}{someone.pk}/").status_code == 404
    assert client.post(f"{REDEMPTIONS}{someone.pk}/fulfil/").status_code == 403
    assert client.get(REDEMPTIONS).json()["count"] == 0
