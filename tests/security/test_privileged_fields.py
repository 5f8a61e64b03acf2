"""Privileged fields: whatever a member sends, they cannot set points, balances, status, ownership or staff flags.

Generic over the OpenAPI schema and the project's forms, so operations and forms added later are covered:
- every request body's privileged properties are either absent or on the reviewed operator-only list, and a member
  is refused by each operation on that list;
- every write operation is sent, as `member`, a body with every privileged field set (to another member's id, a
  staff flag, a huge number or another status): whatever it answers, nothing privileged changes;
- no portal form (admin forms are the operators' face) has a privileged field that was not reviewed.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from members.models import Member
from rewards.selectors.ledger import ledger_drift
from tests.security.privileged import OPERATOR_ONLY_OPERATIONS, PRIVILEGED, REVIEWED_FORMS

PROJECT_APPS = ("community", "members", "feedback", "rewards", "analytics", "engage", "integrations")
WRITE_METHODS = {"post", "put", "patch"}
HUGE = 10**7
# Rows that another member's action may legitimately create for them.
UNOWNED_MODELS = {"community.notification", "community.activity", "community.auditlog", "sessions.session"}


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = _schema()
COMPONENTS = SCHEMA["components"]["schemas"]


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
    for combinator in ("allOf", "oneOf", "anyOf"):
        if combinator in schema:
            merged: dict[str, Any] = {}
            for part in schema[combinator]:
                part = resolve(part)
                merged.setdefault("properties", {}).update(part.get("properties", {}))
                merged.setdefault("required", []).extend(part.get("required", []))
                merged.setdefault("type", part.get("type"))
            return merged
    return schema


def example(schema: dict) -> Any:
    """The plainest valid-looking value for a JSON schema, so a request gets past validation where it can."""
    schema = resolve(schema)
    if "enum" in schema:
        return next((value for value in schema["enum"] if value not in (None, "")), None)
    kind = schema.get("type")
    form = schema.get("format")
    if kind == "object" or "properties" in schema:
        return {name: example(schema["properties"][name]) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}))] * schema.get("minItems", 0)
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if form == "date-time":
        return (timezone.now() + timedelta(days=1)).isoformat()
    if form == "date":
        return timezone.localdate().isoformat()
    if form == "email":
        return "someone@example.com"
    if form == "uri":
        return "https://example.com/hook"
    if form == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    return "x" * max(1, schema.get("minLength", 1))


def write_operations() -> list[tuple[str, str, dict]]:
    found = []
    for path, item in SCHEMA["paths"].items():
        for method, operation in item.items():
            if method in WRITE_METHODS and "requestBody" in operation:
                found.append((method, path, operation))
    return found


def json_body_schema(operation: dict) -> dict | None:
    content = operation["requestBody"].get("content", {})
    return resolve(content["application/json"]["schema"]) if "application/json" in content else None


OPERATIONS = write_operations()


def _label(method: str, path: str) -> str:
    return f"{method.upper()} {path}"


# --- the schema ----------------------------------------------------------------------------------------------


def test_no_request_body_offers_a_privileged_field_unless_reviewed():
    offending = {}
    for method, path, operation in OPERATIONS:
        schema = json_body_schema(operation) or {}
        privileged = set(schema.get("properties", {})) & PRIVILEGED
        reviewed = OPERATOR_ONLY_OPERATIONS.get(_label(method, path), (frozenset(), ""))[0]
        if privileged - reviewed:
            offending[_label(method, path)] = sorted(privileged - reviewed)

    assert not offending, "privileged fields members could send; make them read-only or review them: " + str(offending)


def test_the_reviewed_list_names_only_operations_that_exist():
    labels = {_label(method, path) for method, path, _operation in OPERATIONS}

    assert set(OPERATOR_ONLY_OPERATIONS) <= labels, set(OPERATOR_ONLY_OPERATIONS) - labels


# --- sending them --------------------------------------------------------------------------------------------


def _owned_rows(member: Member) -> dict[str, int]:
    """How many rows of each model point at the member (or their account)."""
    counts = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in UNOWNED_MODELS:
            continue
        for field in model._meta.get_fields():
            if not isinstance(field, models.ForeignKey | models.OneToOneField) or not field.concrete:
                continue
            target = field.related_model
            if target is Member:
                value = member.pk
            elif target is not None and target._meta.label == settings.AUTH_USER_MODEL:
                value = member.user_id
            else:
                continue
            counts[f"{label}.{field.name}"] = model._default_manager.filter(**{field.attname: value}).count()
    return counts


def _balance(member: Member) -> tuple[int, int]:
    from rewards.models import PointBalance

    row = PointBalance.objects.filter(member=member).first()
    return (row.lifetime, row.spendable) if row else (0, 0)


def _poisoned(body: dict, world) -> dict:
    other = world.other_member
    poison = {
        "member": other.pk,
        "member_id": other.pk,
        "owner": other.pk,
        "owner_id": other.pk,
        "author": other.pk,
        "applicant": other.pk,
        "assignee": world.operator.pk,
        "user": other.user_id,
        "user_id": other.user_id,
        "is_staff": True,
        "is_superuser": True,
        "is_active": False,
        "groups": ["operator"],
        "role": "operator",
        "status": "removed",
        "points": HUGE,
        "balance": HUGE,
        "amount": HUGE,
        "price": 0,
        "stock": HUGE,
        "level": HUGE,
    }
    return {**body, **poison}


def _path_for(client: Client, path: str) -> str | None:
    """Fill the path's parameters with the first object the member's own list shows, if any."""
    if "{" not in path:
        return path
    head, _brace, rest = path.partition("{")
    name, _close, tail = rest.partition("}")
    listing = client.get(head)
    if listing.status_code != 200:
        return None
    data = listing.json()
    rows = data.get("results", data) if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return None
    key = next((k for k in (name, "id", "pk", "slug", "key") if k in rows[0]), None)
    if key is None:
        return None
    filled = f"{head}{rows[0][key]}{tail}"
    return None if "{" in filled else filled


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=[_label(m, p) for m, p, _o in OPERATIONS])
def test_a_member_cannot_set_privileged_fields(shared_world, db, method, path, operation):
    world = shared_world
    member, other = world.member, world.other_member
    client = world.client_for("member")
    schema = json_body_schema(operation)
    if schema is None:
        pytest.skip("no JSON body (file upload)")
    url = _path_for(client, path)
    if url is None:
        pytest.skip("the member has no object to aim at")
    before = (_owned_rows(other), _balance(other), _balance(member))

    with transaction.atomic():
        response = getattr(client, method)(url, json.dumps(_poisoned(example(schema), world)), "application/json")
        member.refresh_from_db()
        member.user.refresh_from_db()
        after = (_owned_rows(other), _balance(other), _balance(member))
        state = {
            "is_staff": member.user.is_staff,
            "is_superuser": member.user.is_superuser,
            "groups": list(member.user.groups.values_list("name", flat=True)),
            "is_active": member.user.is_active,
            "status": member.status,
            "drift": ledger_drift(member_ids=[member.pk, other.pk]),
        }
        transaction.set_rollback(True)

    label = _label(method, path)
    assert response.status_code < 500, (label, response.status_code)
    if label in OPERATOR_ONLY_OPERATIONS:
        assert response.status_code in {401, 403, 404}, (label, response.status_code, response.content[:300])
    assert state == {
        "is_staff": False,
        "is_superuser": False,
        "groups": [],
        "is_active": True,
        "status": Member.Status.ACTIVE,
        "drift": [],
    }, label
    assert after[0] == before[0], f"{label} made rows for another member"
    assert after[1] == before[1], f"{label} changed another member's points"
    assert max(after[2]) < HUGE, f"{label} let the member set their own points"


# --- portal forms --------------------------------------------------------------------------------------------


def _import_project_modules() -> None:
    for app in PROJECT_APPS:
        package = importlib.import_module(app)
        for info in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" in info.name or ".settings" in info.name or ".tests" in info.name:
                continue
            importlib.import_module(info.name)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def portal_forms() -> dict[str, type]:
    _import_project_modules()
    return {
        f"{form.__module__}.{form.__qualname__}": form
        for form in _subclasses(forms.BaseForm)
        if form.__module__.split(".")[0] in PROJECT_APPS and ".admin" not in form.__module__
    }


def test_no_portal_form_has_a_privileged_field_unless_reviewed():
    offending = {}
    for name, form in portal_forms().items():
        privileged = set(form.base_fields) & PRIVILEGED
        if privileged - REVIEWED_FORMS.get(name, (frozenset(), ""))[0]:
            offending[name] = sorted(privileged)

    assert not offending, offending


def test_the_form_scan_finds_the_profile_form():
    assert "members.forms.ProfileForm" in portal_forms()
