"""``GET /openapi.json``: an OpenAPI 3.1 document built from the registered routes and ``schemas/``.

``ENDPOINTS`` lists every route ever declared with :func:`herald.web.api.endpoint` in this process
(plugin blueprints included, whichever application imported them); the document keeps only those
the running application actually serves (its ``url_map``).
"""

import functools
import json
import re

from flask import Blueprint, current_app, jsonify

from ... import __version__, workspace_values
from ...schemas import schema_name, schemas_dir
from . import ENDPOINTS, MUTATING, endpoint, runtime

bp = Blueprint("openapi", __name__)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERROR = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "description": "Every error: a stable machine-readable code, a sentence for people, and the field at fault.",
    "properties": {"error": {"type": "object", "required": ["code", "message"], "additionalProperties": False,
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                            "field": {"type": "string"}}}},
}
# Paths that neither count against the API rate limit nor read the database.
_NO_DATABASE = frozenset({"/openapi.json"})
_RATE_EXEMPT = ("/health", "/media/")
_BODY_TYPES = frozenset({JSON, "multipart/form-data", "text/csv"})
_SUCCESS_MEANINGS = {201: "Created", 202: "Accepted: the work is queued", 204: "Done, nothing to say",
                     303: "See Other: the browser goes on to the address in Location",
                     503: "Unhealthy: the same report, naming what fails"}
_ERROR_MEANINGS = {
    400: "The request is malformed or a value is refused (`validation_error`, `field` names it)",
    401: "No valid credentials",
    402: "The plan's AI generations for this month are used up (`plan_limit`)",
    403: "The key lacks the scope, or the feature is off for this workspace",
    404: "Nothing with that id in this workspace",
    409: "Conflicts with the resource's state, or an Idempotency-Key reused with another request",
    410: "The link has expired",
    413: "The body is too large",
    415: "The body's media type is not the one this operation takes",
    422: "The request is valid but cannot be carried out (the message says why)",
    429: "Too many requests (see Retry-After)",
    500: "The call to the platform made for this request failed unexpectedly (`platform_error`)",
    503: "A dependency (the database, a queue, the platform) is not answering; retry after Retry-After",
}


def _component(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


@functools.cache
def response_schemas() -> dict[str, dict]:
    """The success bodies' schemas, ``schemas/responses/<name>.json``, by name (read once)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted((schemas_dir() / "responses").glob("*.json"))}


def bundle(name: str, schema: dict, components: dict) -> None:
    """Put ``schema`` in ``components`` as ``name`` with nothing a tool cannot resolve: its ``$defs``
    become components of their own (``name.def``), ``#/$defs/x`` points there, and a reference to
    another file (``post.json``) points at that file's component."""
    defs = schema.get("$defs", {})

    def rewrite(node):
        if isinstance(node, dict):
            node = {key: rewrite(value) for key, value in node.items() if key not in ("$defs", "$id", "$schema")}
            if isinstance(node.get("items"), bool):  # OpenAPI tools take schemas as objects only
                node["items"] = {} if node["items"] else {"not": {}}
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node["$ref"] = f"#/components/schemas/{_component(name)}.{ref.removeprefix('#/$defs/')}"
            elif isinstance(ref, str) and not ref.startswith("#"):
                node["$ref"] = f"#/components/schemas/{_component(ref.removesuffix('.json'))}"
            return node
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    bundled = rewrite(schema)
    # A title is what generators name a model after ("POST /v1/publish" and "POST /v1/publish/batch" would
    # both be "Publish"): the component's own name is the model's, the title stays as its description.
    title = bundled.pop("title", None)
    if title and "description" not in bundled:
        bundled["description"] = title
    components[_component(name)] = bundled
    for key, value in defs.items():
        components[f"{_component(name)}.{key}"] = rewrite(value)


def _body_schema(media_type: str) -> dict:
    """The schema of a non-JSON body: text, or bytes of that media type."""
    if media_type.startswith("text/"):
        return {"type": "string"}
    return {"type": "string", "contentMediaType": media_type}


def _success(doc) -> dict:
    """The success responses, in their real media types; a form post answers 303 back to its page."""
    if doc.content_type == FORM:
        return {"303": {"description": "Back to the page, with a notice next to the post",
                        "headers": {"Location": {"schema": {"type": "string"}}}}}
    types = (doc.response_type,) if isinstance(doc.response_type, str) else doc.response_type
    responses = doc.responses
    answers = {}
    if types != (JSON,):
        # A download: its 200 in its real media types (JSON among them described by the 200's schema);
        # other successes (202 with the job of an export run in the background) are JSON.
        named = dict(responses).get(200)
        answers["200"] = {"description": "Success", "content": {
            kind: {"schema": {"$ref": f"#/components/schemas/{_component(named)}"} if kind == JSON and named
                   else _body_schema(kind)} for kind in types}}
        responses = tuple((status, name) for status, name in responses if status != 200)
    for status, name in responses:
        answer = {"description": _SUCCESS_MEANINGS.get(status, "Success")}
        if status == 303:
            answer["headers"] = {"Location": {"schema": {"type": "string"}}}
        elif status != 204:
            schema = {"$ref": f"#/components/schemas/{_component(name)}"} if name else {}
            answer["content"] = {JSON: {"schema": schema}}
        answers[str(status)] = answer
    return answers


def _error_response(response_type, status: int, codes: list[str]) -> dict:
    """Errors are the JSON envelope, except on HTML pages, which answer with a page that says what is wrong.
    ``codes`` are the error catalogue's codes answered with ``status``."""
    if response_type == "text/html":
        return {"description": f"{_ERROR_MEANINGS[status]} (a page that explains it)",
                "content": {"text/html": {"schema": {"type": "string"}}}}
    listed = f". Codes with this status: {', '.join(f'`{code}`' for code in codes)}" if codes else ""
    return {"description": _ERROR_MEANINGS[status] + listed,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _error_component(entries) -> dict:
    """The envelope, its ``code`` an enum of the catalogue's codes (the core's and the loaded plugins')."""
    error = _ERROR["properties"]["error"]
    code = {"type": "string", "enum": [entry.code for entry in entries],
            "description": "; ".join(f"`{entry.code}` ({entry.status}): {entry.meaning}" for entry in entries)}
    return {**_ERROR, "properties": {"error": {**error, "properties": {**error["properties"], "code": code}}}}


def _has_id_property(schema, components: dict) -> bool:
    """Whether the request schema names something stored (a ``*_id``, ``media``): 404 when it is not there."""
    names = set()
    for option in [schema, *schema.get("oneOf", [])]:
        if "$ref" in option:
            option = components.get(option["$ref"].rsplit("/", 1)[1], {})
        names |= set(option.get("properties", {}))
    return any(name.endswith("_id") or name in ("media", "accounts") for name in names)


def error_statuses(doc, method: str, body_schema: dict | None, components: dict) -> list[int]:
    """The error statuses an operation can answer, from what it is: credentials (401, 403), the rate
    limits (429, failed authentications included), a body (400 invalid, 413 too large, 415 another
    media type), ids in the path, query or body (404), an Idempotency-Key on a write (400, 409), the
    database (503), and what the view declares it raises itself (``errors``)."""
    statuses = set(doc.errors)
    if doc.path not in _NO_DATABASE:
        statuses.add(503)
    if not doc.path.startswith(_RATE_EXEMPT):
        statuses.add(429)
    if doc.auth:
        statuses |= {401, 403}
        if method in MUTATING:
            statuses |= {400, 409}
    if doc.query:
        statuses.add(400)
    if doc.content_type in _BODY_TYPES and method in MUTATING and (doc.body or doc.content_type != JSON
                                                                   or body_schema is not None):
        statuses |= {400, 413, 415}
    ids_in_query = any(entry[0].endswith("_id") for entry in doc.query)
    if _CONVERTER.search(doc.path) or ids_in_query or (body_schema and _has_id_property(body_schema, components)):
        statuses.add(404)
    return sorted(statuses)


def _query_parameter(entry) -> dict:
    name, kind, description, *required = entry
    return {"name": name, "in": "query", "required": bool(required and required[0]), "description": description,
            "schema": kind if isinstance(kind, dict) else {"type": kind}}


def _operation(doc, method: str, schemas, components: dict, codes: dict[int, list[str]]) -> dict:
    # The method and the path, placeholders by name: unique, and what generated clients name their functions.
    words = re.findall(r"[A-Za-z0-9]+", _CONVERTER.sub(r"\2", doc.path))
    operation = {"summary": doc.summary, "tags": [doc.tag], "operationId": "_".join([method.lower(), *words])}
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "integer", "minimum": 0} if kind == "int" else {"type": "string"}}
                  for kind, name in _CONVERTER.findall(doc.path)]
    parameters += [_query_parameter(entry) for entry in doc.query]
    if parameters:
        operation["parameters"] = parameters
    body_schema = None
    if doc.content_type == "multipart/form-data":
        content = {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}
        if doc.body:  # JSON taken as well (a media URL instead of the file)
            body_schema = {"$ref": f"#/components/schemas/{_component(doc.body)}"}
            content[JSON] = {"schema": body_schema}
        operation["requestBody"] = {"required": True, "content": content}
    elif doc.body:
        body_schema = {"$ref": f"#/components/schemas/{_component(doc.body)}"}
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body_schema}}}
    elif doc.tag == "actions":
        body_schema = {"oneOf": [{"$ref": f"#/components/schemas/{_component(schema_name(reg.obj))}"}
                                 for reg in schemas.values()]}
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body_schema}}}
    elif doc.content_type == "text/csv":
        operation["requestBody"] = {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    elif doc.content_type == FORM:
        operation["requestBody"] = {"required": True, "content": {FORM: {"schema": {
            "type": "object", "additionalProperties": {"type": "string"}}}}}
    if not doc.auth:
        operation["security"] = []
    elif doc.scope:
        operation["description"] = f"Needs the `{doc.scope}` scope."
    operation["responses"] = _success(doc)
    for status in error_statuses(doc, method, body_schema, components):
        # /health answers 503 with its report, which _success describes
        operation["responses"].setdefault(str(status), _error_response(doc.response_type, status,
                                                                       codes.get(status, [])))
    return operation


def _served() -> set[tuple[str, str]]:
    """(rule, method) for every route of the running application."""
    return {(rule.rule, method) for rule in current_app.url_map.iter_rules() for method in rule.methods or ()}


def build_document() -> dict:
    """The OpenAPI 3.1 document for the running application (only the routes it serves)."""
    components: dict = {}
    answers = dict(response_schemas())
    answers["settings"] = workspace_values.answer_schema(runtime().registry, answers["settings"])
    for name, schema in {**runtime().schemas.schemas, **answers}.items():
        bundle(name, schema, components)
    entries = runtime().registry.error_code_entries()
    components["Error"] = _error_component(entries)
    codes: dict[int, list[str]] = {}
    for entry in entries:
        codes.setdefault(entry.status, []).append(entry.code)
    served = _served()
    paths: dict = {}
    for doc in ENDPOINTS:
        path = _CONVERTER.sub(r"{\2}", doc.path)
        for method in doc.methods:
            if (doc.path, method) in served:
                paths.setdefault(path, {})[method.lower()] = _operation(doc, method, runtime().registry.actions,
                                                                         components, codes)
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


@endpoint(bp, "/openapi.json", ("GET",), summary="This API's OpenAPI 3.1 document", auth=False,
          responses={200: "openapi_document"})
def openapi():
    """The OpenAPI document, built from the same schemas the API validates with."""
    return jsonify(build_document())
