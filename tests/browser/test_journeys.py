"""The main member and operator journeys in a real browser (headless Chromium), each ending in a screenshot."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from rewards.models import Redemption
from tests.browser.conftest import screenshot, sign_in_as
from tests.factories import MemberFactory
from tests.rewards.factories_shop import RewardFactory, give_points

# serialized_rollback: each journey starts from, and leaves behind, the data the migrations install (feedback
# statuses, levels, point rules), which a transactional test would otherwise flush away for the tests after it.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def lin():
    return MemberFactory(display_name="Lin Mei", user__email="lin@example.com")


def test_sign_in(page, lin):
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "lin@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.locator("main form button[type=submit]").first.click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("main")).to_contain_text("Lin Mei")
    expect(page.locator("nav")).to_contain_text("Log out")
    screenshot(page, "sign-in")
    assert not page.console_errors, page.console_errors


def test_check_in(page, live_server, lin):
    sign_in_as(page, live_server, lin)
    page.goto("/rewards/points/")
    page.get_by_role("button", name="Check in").click()

    expect(page.get_by_role("button", name="Checked in today")).to_be_visible()
    screenshot(page, "check-in")
    assert lin.activities.filter(verb="checked_in").count() == 1
    assert not page.console_errors, page.console_errors


def test_redeem_a_reward(page, live_server, lin):
    reward = RewardFactory(name="Hearth mug", price=100, stock=3)
    give_points(lin, 250)
    sign_in_as(page, live_server, lin)

    page.goto(f"/rewards/shop/{reward.pk}/")
    page.get_by_role("button", name=re.compile("Redeem for 100 points")).click()

    expect(page).to_have_url(re.compile(r"/rewards/shop/redemptions/\d+/$"))
    expect(page.locator("h1")).to_have_text("Hearth mug")
    screenshot(page, "redeem")
    assert Redemption.objects.filter(member=lin, reward=reward).count() == 1
    reward.refresh_from_db()
    assert reward.stock == 2


def test_switch_to_chinese(page, live_server, lin):
    sign_in_as(page, live_server, lin)
    page.goto("/")
    page.select_option("#language-select", "zh-hans")
    page.locator("form.lang button[type=submit]").click()

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("nav")).to_contain_text("退出")
    screenshot(page, "chinese")
    lin.refresh_from_db()
    assert lin.locale == "zh-hans"


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_render_under_their_content_security_policy(page, url):
    page.goto(url)

    if "docs" in url:
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Hearth API")
    else:
        # Redoc parses the whole schema in a web worker before it shows anything.
        expect(page.locator("redoc h1").first).to_contain_text("Hearth API", timeout=60_000)
    # Redoc's "powered by" logo points at its vendor's CDN: the policy blocking that is the point. Nothing the page
    # needs to run (scripts, the worker, styles) may be blocked.
    blocked = [
        text for text in page.console_errors if "Content Security Policy" in text and "Loading the image" not in text
    ]
    assert not blocked, blocked
    screenshot(page, "api-docs" if "docs" in url else "api-redoc", full_page=False)


def test_apply_to_a_round(page, live_server, lin):
    from members.models import Application
    from tests.members.factories import RoundFactory

    round_ = RoundFactory(name="Dark mode pioneers", slug="dark-mode")
    sign_in_as(page, live_server, lin)

    page.goto("/apply/dark-mode/")
    expect(page.locator("h1")).to_contain_text("Dark mode pioneers")
    page.get_by_role("button", name="Send my application").click()

    expect(page.locator("#application-form")).to_have_count(0)
    screenshot(page, "apply")
    assert Application.objects.filter(round=round_, member=lin).count() == 1
    assert not page.console_errors, page.console_errors


def test_submit_feedback(page, live_server, lin):
    from feedback.models import FeedbackItem, FeedbackStatus

    # The migration's statuses, in case an earlier transactional test flushed them.
    FeedbackStatus.objects.get_or_create(key="new", defaults={"name": "New", "order": 10, "is_default": True})
    sign_in_as(page, live_server, lin)
    page.goto("/feedback/new/")
    page.select_option("select[name=kind]", "idea")
    page.fill("input[name=title]", "Export my points history")
    page.fill("textarea[name=body]", "A CSV of my **points** would help me plan.")
    page.locator("main form button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/feedback/\d+/$"))
    expect(page.locator("h1")).to_contain_text("Export my points history")
    expect(page.locator("main strong").first).to_have_text("points")
    screenshot(page, "feedback")
    assert FeedbackItem.objects.filter(author=lin, title="Export my points history").count() == 1
    assert not page.console_errors, page.console_errors


def test_operator_accepts_an_applicant(page, live_server, lin):
    from community import roles
    from members.models import Application
    from tests.factories import staff_member
    from tests.members.factories import ApplicationFactory, RoundFactory

    application = ApplicationFactory(round=RoundFactory(capacity=5), member=lin)
    operator = staff_member(roles.OPERATOR, display_name="Olga Operator")
    sign_in_as(page, live_server, operator)

    page.goto("/admin/members/application/")
    page.locator(f"input[name=_selected_action][value='{application.pk}']").check()
    page.select_option("select[name=action]", label="Accept (up to capacity, best score first)")
    page.locator("button[name=index]").click()

    expect(page.locator("ul.messagelist li").first).to_be_visible()
    screenshot(page, "operator-accepts")
    application.refresh_from_db()
    assert application.status == Application.Status.ACCEPTED
    assert not page.console_errors, page.console_errors
