"""``GET /openapi.json``: an OpenAPI 3.1 document built from the registered routes and ``schemas/``.

``ENDPOINTS`` lists every route ever declared with :func:`herald.web.api.endpoint` in this process
(plugin blueprints included, whichever application imported them); the document keeps only those
the running application actually serves (its ``url_map``).
"""

import re

from flask import Blueprint, current_app, jsonify

from ... import __version__
from ...schemas import schema_name
from . import ENDPOINTS, endpoint, runtime

bp = Blueprint("openapi", __name__)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}},
}


def _component(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _body_schema(media_type: str) -> dict:
    """The schema of a non-JSON body: text, or bytes of that media type."""
    if media_type.startswith("text/"):
        return {"type": "string"}
    return {"type": "string", "contentMediaType": media_type}


def _success(doc) -> dict:
    """The success response, in its real media types; a form post answers 303 back to its page."""
    if doc.content_type == FORM:
        return {"303": {"description": "Back to the page, with a notice next to the post",
                        "headers": {"Location": {"schema": {"type": "string"}}}}}
    types = (doc.response_type,) if isinstance(doc.response_type, str) else doc.response_type
    content = {kind: {} if kind == JSON else {"schema": _body_schema(kind)} for kind in types}
    return {"200": {"description": "Success", "content": content}}


def _error_response(response_type: str) -> dict:
    """Errors are the JSON envelope, except on HTML pages, which answer with a page that says what is wrong."""
    if response_type == "text/html":
        return {"description": "Error (a page that explains it)",
                "content": {"text/html": {"schema": {"type": "string"}}}}
    return {"description": "Error", "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(doc, method: str, schemas) -> dict:
    operation = {"summary": doc.summary, "tags": [doc.tag], "operationId": f"{method.lower()}_{doc.tag}_"
                 + _component(doc.path.strip("/").replace("/", "_").replace("<", "").replace(">", ""))}
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "integer" if kind == "int" else "string"}}
                  for kind, name in _CONVERTER.findall(doc.path)]
    parameters += [{"name": name, "in": "query", "required": False, "description": description,
                    "schema": kind if isinstance(kind, dict) else {"type": kind}}
                   for name, kind, description in doc.query]
    if parameters:
        operation["parameters"] = parameters
    if doc.body:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{_component(doc.body)}"}}}}
    elif doc.content_type == "multipart/form-data":
        operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}}
    elif doc.tag == "actions":
        refs = [{"$ref": f"#/components/schemas/{_component(schema_name(reg.obj))}"}
                for reg in schemas.values()]
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"oneOf": refs}}}}
    elif doc.content_type == "text/csv":
        operation["requestBody"] = {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    elif doc.content_type == FORM:
        operation["requestBody"] = {"required": True, "content": {FORM: {"schema": {
            "type": "object", "additionalProperties": {"type": "string"}}}}}
    if not doc.auth:
        operation["security"] = []
    error = _error_response(doc.response_type)
    operation["responses"] = {**_success(doc), "400": error, "429": error, "500": error}
    if doc.auth:
        operation["responses"].update({"401": error, "403": error})
        if doc.scope:
            operation["description"] = f"Needs the `{doc.scope}` scope."
    if "{" in _CONVERTER.sub(r"{\2}", doc.path):
        operation["responses"]["404"] = error
    return operation


def _served() -> set[tuple[str, str]]:
    """(rule, method) for every route of the running application."""
    return {(rule.rule, method) for rule in current_app.url_map.iter_rules() for method in rule.methods or ()}


def build_document() -> dict:
    """The OpenAPI 3.1 document for the running application (only the routes it serves)."""
    store = runtime().schemas
    served = _served()
    paths: dict = {}
    for doc in ENDPOINTS:
        path = _CONVERTER.sub(r"{\2}", doc.path)
        for method in doc.methods:
            if (doc.path, method) in served:
                paths.setdefault(path, {})[method.lower()] = _operation(doc, method, runtime().registry.actions)
    components = {_component(name): schema for name, schema in store.schemas.items()}
    components["Error"] = _ERROR
    return {
        "openapi": "3.1.0",
        "info": {"title": "Herald API", "version": __version__,
                 "description": "Publishing and content-intelligence API. Errors always use the envelope "
                                "{\"error\": {\"code\", \"message\", \"field\"?}}."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "herald_session"},
            },
        },
        "security": [{"apiKey": []}, {"bearer": []}, {"session": []}],
    }


@endpoint(bp, "/openapi.json", ("GET",), summary="This API's OpenAPI 3.1 document", auth=False)
def openapi():
    """The OpenAPI document, built from the same schemas the API validates with."""
    return jsonify(build_document())
