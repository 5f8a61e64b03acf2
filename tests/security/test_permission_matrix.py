"""Every portal page and API route, visited as every persona, answers what `routes/<app>.py` says it must.

The routes come from the URL resolver, so a route added later without an entry fails the first test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import transaction
from django.urls import reverse

from tests.security.routes import PUBLIC, VISIT_ORDER, DiscoveredRoute, Route, all_routes, discover_routes

DISCOVERED = discover_routes()
ENTRIES = all_routes()
RECORD = os.environ.get("HEARTH_MATRIX_RECORD")
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


def test_every_route_has_an_entry():
    missing = [
        f"{route.key}  ({route.pattern}) → routes/{route.app}.py" for route in DISCOVERED if route.key not in ENTRIES
    ]
    stale = sorted(set(ENTRIES) - {route.key for route in DISCOVERED})

    assert not missing, "routes without a permission-matrix entry:\n" + "\n".join(missing)
    assert not stale, f"entries for routes that do not exist: {stale}"


def test_discovery_sees_every_kind_of_route():
    keys = {route.key for route in DISCOVERED}

    assert {"portal:home", "member-detail", "rewards:shop_reward", "api-docs", "account_login"} <= keys
    assert not any(route.pattern.startswith("admin/") for route in DISCOVERED)


def _url(world, route: Route, key: str) -> str:
    if route.path is not None:
        return route.path
    return reverse(key, kwargs={name: world.value(ref) for name, ref in route.kwargs.items()})


def visit(world, route: Route, key: str, persona: str):
    client = world.client_for(persona)
    url = _url(world, route, key)
    # Each visit is rolled back, so one persona's write never changes what the next one finds.
    with transaction.atomic():
        if route.method == "get":
            response = client.get(url, route.data)
        else:
            # The API takes JSON; portal forms are posted form-encoded, as a browser does.
            encoding = {"content_type": "application/json"} if url.startswith("/api/") else {}
            response = getattr(client, route.method)(url, route.data, **encoding)
        transaction.set_rollback(True)
    return response


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return ""
    return response.content.decode(errors="replace")


@pytest.mark.parametrize("discovered", DISCOVERED, ids=lambda route: route.key)
def test_route_answers_each_persona_as_expected(shared_world, db, discovered: DiscoveredRoute):
    world = shared_world
    if discovered.key not in ENTRIES:
        if not RECORD or "<" in discovered.pattern or "(?P" in discovered.pattern:
            pytest.fail(f"{discovered.key} has no entry in routes/{discovered.app}.py")
        # Recording: a plain GET of a route without parameters, as a starting point for its entry.
        ENTRIES[discovered.key] = (discovered.app, Route(PUBLIC))
    _module, route = ENTRIES[discovered.key]
    got: dict[str, int] = {}
    for persona in VISIT_ORDER:
        response = visit(world, route, discovered.key, persona)
        got[persona] = response.status_code
        if RECORD:
            continue
        if response.get("Content-Type", "").startswith("text/html"):
            missing = [header for header in SECURITY_HEADERS if not response.get(header)]
            assert not missing, f"{discovered.key} as {persona}: HTML without {missing}"
        if persona in {"anonymous", "other_member"}:
            body = _body(response)
            assert world.secret not in body, f"{persona} was shown member's private text at {discovered.key}"
            assert world.member.user.email not in body, f"{persona} was shown member's e-mail at {discovered.key}"
        if persona == "anonymous" and response.status_code == 302 and route.login_redirect:
            assert "/accounts/login/" in response["Location"], (discovered.key, response["Location"])
    if RECORD:
        with Path(RECORD).open("a") as out:
            out.write(f"{discovered.app}\t{discovered.key}\t{discovered.pattern}\t{got}\n")
        return
    expected = {persona: route.expect[persona] for persona in VISIT_ORDER}
    assert got == expected, f"{discovered.key}: got {got}, expected {expected}"
