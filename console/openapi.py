"""The OpenAPI schema tells the truth about errors: every operation documents the answers it can give besides
success (400, 401, 403, 404, 429, and 502 where Apple is called), with the body those answers carry."""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` says what is wrong; a 400 names each invalid field with its messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
ERRORS = {
    "400": "Invalid input: the fields and their messages (nothing was changed).",
    "401": "No credentials, or wrong ones.",
    "403": "Signed in, but the role may not do this (help desk changes nothing).",
    "404": "No such object (or no role that may see it).",
    "405": "The method is not allowed on this resource.",
    "429": "Too many requests (per user, per address, or wrong credentials); see Retry-After.",
}
APPLE_ERROR = {"502": "Apple answered with an error (apple_error_number and its text)."}
WRITE_METHODS = {"post", "put", "patch", "delete"}
# A string with no NUL character (a regular expression JSON Schema and Python read alike).
NO_NUL = "^[^\\x00]*$"


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the error answers to every operation that lacks them."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(ERRORS)
            if method in WRITE_METHODS:
                errors.update(APPLE_ERROR)
            for status, description in errors.items():
                operation["responses"].setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": ref}}}
                )
    return result


def document_query_parameters(result, generator, request, public):
    """drf-spectacular postprocessing hook: what every query parameter accepts besides its type. Left empty
    (`?state=`) it is the same as left out, as an HTML filter form sends it (the page number is the one
    exception: an empty page is 404); a free-text value holds no NUL character (console.api.FilterBackend
    refuses one)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                if parameter.get("name") != "page":
                    parameter["allowEmptyValue"] = True
                schema = parameter.get("schema", {})
                if schema.get("type") == "string" and not {"enum", "format", "pattern"} & set(schema):
                    schema["pattern"] = NO_NUL
    return result
