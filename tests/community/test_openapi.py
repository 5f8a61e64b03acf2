"""The OpenAPI schema and the API docs pages."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from community.api.schema import PUBLIC_CODES, STANDARD, is_public

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

# The community and member operations and the error answers each can give (beside 405/415/429, which any endpoint
# may give). A write signed in by session cookie without its CSRF token is 403, so every write documents 403.
# Other apps add their own operations; the rules after this table hold for every operation in the schema.
EXPECTED_ERRORS: dict[tuple[str, str], set[int]] = {
    ("/api/v1/activity/", "get"): {400, 401, 404},
    ("/api/v1/activity/{id}/", "get"): {401, 404},
    ("/api/v1/members/", "get"): {400, 401, 403, 404},
    ("/api/v1/members/{id}/", "get"): {401, 404},
    ("/api/v1/members/me/", "get"): {401, 403},
    ("/api/v1/members/me/", "patch"): {400, 401, 403},
    ("/api/v1/notification-preferences/", "get"): {401, 403},
    ("/api/v1/notification-preferences/{kind}/", "put"): {400, 401, 403, 404},
    ("/api/v1/notifications/", "get"): {401, 403, 404},
    ("/api/v1/notifications/{id}/", "get"): {401, 403, 404},
    ("/api/v1/notifications/mark-read/", "post"): {400, 401, 403},
    ("/api/v1/notifications/unread-count/", "get"): {401, 403},
    ("/api/v1/tokens/", "get"): {401, 404},
    ("/api/v1/tokens/", "post"): {400, 401, 403},
    ("/api/v1/tokens/{id}/", "delete"): {401, 403, 404},
    ("/health/", "get"): {503},
}
PUBLIC_OPERATIONS = {("/health/", "get")}


def operations(schema: dict) -> dict[tuple[str, str], dict]:
    return {
        (path, method): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


# --- generation and validation ----------------------------------------------------------------------------


def test_schema_generates_without_warnings_or_errors_and_validates():
    GENERATOR_STATS.reset()

    generated = SchemaGenerator().get_schema(request=None, public=True)

    problems = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    assert not problems, "\n".join(problems)
    validate_schema(generated)


def test_the_spectacular_command_passes_with_validate_and_fail_on_warn(tmp_path):
    GENERATOR_STATS.reset()
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert yaml.safe_load(target.read_text())["info"]["title"] == "Hearth API"


def test_the_schema_is_served(client, db):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    served = yaml.safe_load(response.content)
    assert served["openapi"].startswith("3.")
    assert set(EXPECTED_ERRORS) <= set(operations(served))


def test_the_schema_is_served_as_json(client, db):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert "/api/v1/tokens/" in response.json()["paths"]


# --- what each operation documents ------------------------------------------------------------------------


def test_every_community_and_member_endpoint_is_in_the_schema(schema):
    missing = set(EXPECTED_ERRORS) - set(operations(schema))

    assert not missing


@pytest.mark.parametrize(("path", "method"), sorted(EXPECTED_ERRORS))
def test_each_operation_documents_its_error_answers(schema, path, method):
    operation = operations(schema)[(path, method)]
    documented = {int(code) for code in operation["responses"] if int(code) >= 400}

    # Beside its own answers, every operation gets the standard ones from community.api.schema's hook.
    standard = set(PUBLIC_CODES if is_public(operation) else STANDARD)
    assert documented == EXPECTED_ERRORS[(path, method)] | standard
    for code in documented:
        assert operation["responses"][str(code)]["description"]


def test_every_operation_but_the_health_check_takes_a_token_and_documents_401(schema):
    for key, operation in operations(schema).items():
        if key in PUBLIC_OPERATIONS:
            continue
        assert {"ApiToken": []} in operation.get("security", []), key
        assert "401" in operation["responses"], key


def test_every_operation_that_takes_a_body_documents_400(schema):
    with_body = {key for key, operation in operations(schema).items() if "requestBody" in operation}

    assert {
        ("/api/v1/members/me/", "patch"),
        ("/api/v1/notification-preferences/{kind}/", "put"),
        ("/api/v1/notifications/mark-read/", "post"),
        ("/api/v1/tokens/", "post"),
    } <= with_body
    for key in with_body:
        assert "400" in operations(schema)[key]["responses"], key


def test_every_write_documents_403_for_a_missing_csrf_token(schema):
    for (path, method), operation in operations(schema).items():
        if method in {"post", "put", "patch", "delete"}:
            assert "403" in operation["responses"], (path, method)


def test_every_operation_with_a_path_parameter_documents_404(schema):
    for (path, method), operation in operations(schema).items():
        if "{" in path:
            assert "404" in operation["responses"], (path, method)


def test_the_health_check_is_public_and_documents_503(schema):
    operation = operations(schema)[("/health/", "get")]

    assert not operation.get("security")
    assert schema.get("security") in (None, [])
    assert operation["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }


def test_the_bearer_scheme_is_defined(schema):
    scheme = schema["components"]["securitySchemes"]["ApiToken"]

    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_token_creation_documents_the_secret_in_its_answer_only(schema):
    request_body = schema["components"]["schemas"]["ApiTokenRequest"]
    created = schema["components"]["schemas"]["ApiTokenCreated"]

    assert set(request_body["properties"]) == {"name", "expires_at", "scopes"}
    assert request_body["required"] == ["name"]
    assert "key" in created["properties"] and created["properties"]["key"]["readOnly"] is True


def test_the_profile_update_documents_only_the_editable_fields(schema):
    patched = schema["components"]["schemas"]["PatchedProfileUpdateRequest"]

    assert set(patched["properties"]) == {"display_name", "bio", "locale", "time_zone"}


def test_no_operation_lists_a_security_requirement_twice(schema):
    for key, operation in operations(schema).items():
        requirements = [tuple(sorted(r)) for r in operation.get("security", [])]
        assert len(requirements) == len(set(requirements)), key


# --- the docs pages ---------------------------------------------------------------------------------------


class _AssetCollector(HTMLParser):
    """Every URL a page makes the browser fetch: scripts, stylesheets, icons, preconnects, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attribute in ("src", "href"):
            if tag in {"script", "link", "img", "iframe"} and values.get(attribute):
                self.urls.append(values[attribute])


def page_assets(content: bytes) -> list[str]:
    collector = _AssetCollector()
    collector.feed(content.decode())
    return collector.urls


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc)


def _assert_served_locally(client, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assets = page_assets(response.content)
    assert any(url.endswith(".js") for url in assets)

    external = [url for url in assets if is_external(url)]
    assert not external, f"{page} loads {external}"
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert b"".join(asset.streaming_content if asset.streaming else [asset.content]), url


def test_the_collector_sees_external_assets():
    assets = page_assets(
        b'<link rel="stylesheet" href="https://cdn.example.com/a.css"><script src="//cdn.example.com/b.js"></script>'
        b'<script src="/static/c.js"></script>'
    )

    assert [url for url in assets if is_external(url)] == ["https://cdn.example.com/a.css", "//cdn.example.com/b.js"]


def test_swagger_ui_is_served_without_any_external_asset(client, db):
    _assert_served_locally(client, "/api/docs/")


def test_redoc_is_served_without_any_external_asset(client, db):
    _assert_served_locally(client, "/api/redoc/")


def test_redoc_loads_its_script_from_the_app(client, db):
    scripts = [url for url in page_assets(client.get("/api/redoc/").content) if url.endswith(".js")]

    assert scripts and not [url for url in scripts if is_external(url)]
    assert all(client.get(url).status_code == 200 for url in scripts)


def test_swagger_ui_does_not_send_the_schema_to_an_outside_validator(client, db):
    page = client.get("/api/docs/").content.decode()
    assert "validator.swagger.io" not in page
    assert '"validatorUrl": null' in page
