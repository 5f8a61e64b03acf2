"""Stored XSS: a payload in every member- or operator-editable text field renders inert on every page.

Every text field of every model of the project's apps is overwritten with a payload from the corpus, then every
portal page (the permission matrix's GET routes) is rendered as a member and an operator, and every admin list and
change page as an operator: no page may carry anything that would run script. Fields and models added later are
covered without a change here.
"""

from __future__ import annotations

import itertools

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import IntegrityError, models, transaction
from django.urls import NoReverseMatch, reverse

from community.markdown import render_markdown
from tests.security.routes import all_routes, discover_routes
from tests.security.xss import PAYLOADS, active_content

PROJECT_APPS = {"community", "members", "feedback", "rewards", "analytics", "engage", "integrations"}
# Values the code branches on or looks things up by, not text people write: a payload there breaks the page
# for reasons that have nothing to do with escaping.
SKIPPED_NAMES = {
    "kind",
    "verb",
    "code",
    "key",
    "slug",
    "token",
    "prefix",
    "hash",
    "locale",
    "language",
    "time_zone",
    "timezone",
    "password",
    "email",
    "colour",
    "color",
    "emoji",
    "tier",
    "segment",
    "provider",
    "secret",
    "url",
    "path",
    "format",
    "fmt",
    "mime_type",
    "content_type",
    "event_type",
    "metric",
    "scope",
    "scopes",
    "period",
}
# Pages that fail for a reason of their own, reported to their owners; skipped here until fixed.
KNOWN_BROKEN: set[str] = set()
SKIPPED_SUFFIXES = ("_key", "_id", "_code", "_type", "_hash", "_url", "_kind", "_token", "_prefix", "_path")


def text_fields(model: type[models.Model]) -> list[models.Field]:
    fields = []
    for field in model._meta.concrete_fields:
        if not isinstance(field, models.CharField | models.TextField) or isinstance(
            field, models.EmailField | models.URLField | models.SlugField
        ):
            continue
        if field.choices or field.unique or field.primary_key or (field.max_length or 10_000) < 40:
            continue
        if field.name in SKIPPED_NAMES or field.name.endswith(SKIPPED_SUFFIXES):
            continue
        fields.append(field)
    return fields


def plant_payloads() -> int:
    planted = 0
    corpus = itertools.cycle(PAYLOADS)
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        for field in text_fields(model):
            try:
                with transaction.atomic():
                    planted += model._default_manager.update(**{field.attname: next(corpus)}) and 1
            except (IntegrityError, ValueError):
                continue
    return planted


def _check(label: str, response, problems: dict[str, list[str]]) -> None:
    if label in KNOWN_BROKEN:
        return
    if response.status_code >= 500:
        problems[label] = [f"status {response.status_code}"]
        return
    if getattr(response, "streaming", False) or not response.get("Content-Type", "").startswith("text/html"):
        return
    found = active_content(response.content.decode(errors="replace"))
    if found:
        problems[label] = found


def test_the_detector_sees_each_payload_unescaped():
    for payload in PAYLOADS:
        if payload.startswith(("[", "!", "javascript")):
            continue  # Markdown and bare URLs are only dangerous once rendered
        assert active_content(f"<p>{payload}</p>"), payload


def test_markdown_renders_the_whole_corpus_inert():
    for payload in PAYLOADS:
        html = str(render_markdown(payload + "\n\n" + f"text {payload} more"))
        assert not active_content(html), (payload, html)


def test_every_page_renders_every_stored_payload_inert(shared_world, db):
    world = shared_world
    assert plant_payloads() > 5
    problems: dict[str, list[str]] = {}
    entries = all_routes()
    for discovered in discover_routes():
        if discovered.key not in entries:
            continue
        _module, route = entries[discovered.key]
        if route.method != "get" or route.path is not None:
            continue
        try:
            url = reverse(discovered.key, kwargs={name: world.value(ref) for name, ref in route.kwargs.items()})
        except NoReverseMatch:
            continue
        for persona in ("member", "operator"):
            _check(f"{persona} {url}", world.client_for(persona).get(url), problems)

    operator = world.client_for("operator")
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        _check(f"admin list {info}", operator.get(reverse("admin:{}_{}_changelist".format(*info))), problems)
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            label = f"admin change {info}"
            if label not in KNOWN_BROKEN:
                _check(label, operator.get(reverse("admin:{}_{}_change".format(*info), args=[first.pk])), problems)

    assert not problems, problems


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_profile_payload_is_escaped_where_the_member_sees_it(web_member, member, payload):
    member.display_name = payload[:80]
    member.bio = payload
    member.save()

    page = web_member.get("/settings/profile/").content.decode()

    assert not active_content(page)
