"""Headless Debian Chromium driven by Playwright against pytest-django's live server.

Journeys end with a screenshot of their last page in `.ci/artifacts/` (kept by CI, ignored by git).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop on the test thread; the ORM calls the tests make are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("HEARTH_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".ci" / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]
TIMEOUT_MS = 30_000
# The first page of a run also waits for the live server and a cold browser on a loaded machine.
NAVIGATION_TIMEOUT_MS = 60_000


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does this)")
    from playwright.sync_api import expect, sync_playwright

    # Waits are on what the page shows, never sleeps; a loaded CI machine gets the same generous bound.
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=NAVIGATION_TIMEOUT_MS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(base_url=live_server.url, locale="en-US", viewport={"width": 1024, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    page = context.new_page()
    # Script errors and failed requests (the browser's own favicon probe aside) fail a journey.
    page.console_errors = []
    page.on("console", lambda message: _console_error(page, message))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.on("response", lambda response: _failed_response(page, response))
    yield page
    context.close()


def _console_error(page, message) -> None:
    # A failed request is reported by `_failed_response` with its address.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        page.console_errors.append(message.text)


def _failed_response(page, response) -> None:
    if response.status >= 400 and not response.url.endswith("/favicon.ico"):
        page.console_errors.append(f"{response.status} {response.url}")


def sign_in_as(page, live_server, member) -> None:
    """Give the browser a signed-in session for `member` without going through the log-in form."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(member.user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"journey-{name}.png"
    page.screenshot(path=str(target), full_page=full_page)
    return target
