"""The feedback endpoints in the OpenAPI schema: present, warning-free, with their error answers documented."""

from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
MINE = ("/api/v1/feedback", "/api/v1/surveys", "/api/v1/reports")


@pytest.fixture(scope="module")
def generated(django_db_blocker):
    with django_db_blocker.unblock():
        GENERATOR_STATS.reset()
        schema = SchemaGenerator().get_schema(request=None, public=True)
        problems = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    return schema, problems


def _operations(schema):
    return {
        (path, method): operation
        for path, item in schema["paths"].items()
        if path.startswith(MINE)
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def test_no_schema_warning_comes_from_feedback(generated):
    _schema, problems = generated

    assert not [problem for problem in problems if "feedback" in problem.lower() or "Survey" in problem]


def test_every_feedback_operation_documents_its_errors(generated):
    schema, _problems = generated
    operations = _operations(schema)

    assert ("/api/v1/feedback/", "post") in operations
    assert ("/api/v1/feedback/{id}/merge/", "post") in operations
    assert ("/api/v1/surveys/{id}/respond/", "post") in operations
    assert ("/api/v1/reports/", "post") in operations
    for (path, method), operation in operations.items():
        codes = {int(code) for code in operation["responses"] if int(code) >= 400}
        assert 401 in codes, (path, method)
        assert {"ApiToken": []} in operation.get("security", []), (path, method)
        if method in {"post", "put", "patch", "delete"}:
            assert 403 in codes, (path, method)
        if "{" in path:
            assert 404 in codes, (path, method)
        if "requestBody" in operation:
            assert 400 in codes, (path, method)
