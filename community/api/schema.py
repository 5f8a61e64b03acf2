"""Project-wide OpenAPI post-processing: every operation documents the standard error answers.

Each endpoint documents the errors particular to it with `error_responses(...)`; this hook fills in whichever of
400/401/403/404 an operation left out, so an endpoint added later is documented the same way without anyone
remembering to. Any request can be malformed (400) or aim at something that is not there or not the caller's (404);
an operation that reads credentials can also meet a missing or bad token (401) or a token without the role or
scope (403). A public operation (one that reads no credentials) gets 400 and 404 only.
"""

from __future__ import annotations

from typing import Any

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_COMPONENT = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong, in the requester's language."}},
    "required": ["detail"],
}
STANDARD = {
    400: (
        "Invalid input: each field's messages under its name (`non_field_errors` for the body as a whole), or "
        "`detail` when the request could not be read at all.",
        {"type": "object", "additionalProperties": {}},
    ),
    401: ("Not signed in, or the token is invalid, expired or revoked.", ERROR_REF),
    403: ("Signed in, but not allowed to do this (role, token scope, or a missing CSRF token).", ERROR_REF),
    404: ("Not found, or not yours to see.", ERROR_REF),
}
PUBLIC_CODES = (400, 404)


def is_public(operation: dict[str, Any]) -> bool:
    """No credentials are read at all; an operation where they are optional still answers 401 for a bad token."""
    return not any(operation.get("security") or [])


def add_standard_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error", ERROR_COMPONENT)
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            codes = PUBLIC_CODES if is_public(operation) else tuple(STANDARD)
            for code in codes:
                description, schema = STANDARD[code]
                if str(code) not in responses:
                    responses[str(code)] = {
                        "content": {"application/json": {"schema": schema}},
                        "description": description,
                    }
                elif not responses[str(code)].get("description"):
                    responses[str(code)]["description"] = description
    return result
