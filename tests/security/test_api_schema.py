"""Every documented operation documents its 400/401/403/404 answers (a public one: 400/404)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from community.api.schema import add_standard_error_responses, is_public

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_operation_documents_the_standard_error_answers(schema):
    missing = {}
    for name, operation in operations(schema):
        required = {"400", "404"} if is_public(operation) else {"400", "401", "403", "404"}
        if lacking := required - set(operation["responses"]):
            missing[name] = sorted(lacking)
        for code in required & set(operation["responses"]):
            assert operation["responses"][code]["description"], (name, code)

    assert not missing


def test_the_schema_has_operations_from_every_api_app(schema):
    paths = set(schema["paths"])

    assert {"/api/v1/tokens/", "/api/v1/members/me/", "/api/v1/points/balance/", "/health/"} <= paths


def test_the_hook_fills_in_only_what_an_operation_left_out():
    result = {
        "paths": {
            "/x/": {
                "get": {"security": [{"ApiToken": []}], "responses": {"404": {"description": "No such page."}}},
                "post": {"responses": {}},
            }
        }
    }

    add_standard_error_responses(result, None, None, True)

    secured, public = result["paths"]["/x/"]["get"], result["paths"]["/x/"]["post"]
    assert set(secured["responses"]) == {"400", "401", "403", "404"}
    assert secured["responses"]["404"] == {"description": "No such page."}
    assert set(public["responses"]) == {"400", "404"}
    assert "Error" in result["components"]["schemas"]
