"""Helpers shared by the blueprints: the ``endpoint`` decorator (auth, scope, body validation,
OpenAPI record), JSON body parsing and query parameters."""

from __future__ import annotations

import codecs
import dataclasses
import functools
import json
import math
from decimal import Decimal

from flask import Blueprint, current_app, g, request

from ... import ids
from ...db import unstorable_text
from ...db.models import Client
from ...errors import NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationError
from ...publishing.posts import get_client
from ...runtime import Runtime
from .. import idempotency


@dataclasses.dataclass(frozen=True)
class EndpointDoc:
    """What the OpenAPI document says about one route."""

    path: str
    methods: tuple[str, ...]
    summary: str
    scope: str | None
    body: str | None
    auth: bool
    tag: str
    # (name, type or JSON Schema, description[, required]): the schema carries the bounds the view enforces
    query: tuple[tuple, ...] = ()
    content_type: str = "application/json"  # the request body's media type
    # What a successful answer is (text/csv, application/zip, text/html…); several for a file download.
    response_type: str | tuple[str, ...] = "application/json"
    # Success status -> the name of its body's schema in schemas/responses/ (None: no body described)
    responses: tuple[tuple[int, str | None], ...] = ((200, None),)
    # Error statuses the view itself can answer beyond those its declaration implies (see openapi.error_statuses)
    errors: tuple[int, ...] = ()


ENDPOINTS: list[EndpointDoc] = []
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def runtime() -> Runtime:
    """The running application's :class:`herald.runtime.Runtime`."""
    return current_app.extensions["herald"]


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _number(text: str) -> int | float:
    """A JSON number written with a fraction or an exponent: an ``int`` when it is whole (JSON Schema
    counts ``5.0`` as an integer, so the code behind the schema must get ``5``: ``LIMIT 5.0`` is an SQL
    error, ``post 1.0`` no post), else a finite ``float``."""
    value = Decimal(text)
    if value == value.to_integral_value():
        if value.adjusted() > MAX_WHOLE_DIGITS:  # int() of 1e999999999 would build a billion digits
            raise ValueError(f"{text} is too large")
        return int(value)
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large")
    return number


MAX_WHOLE_DIGITS = 30  # far beyond any count or id Herald keeps (they are 64-bit)
# JSON as RFC 8259 has it: NaN and Infinity, which Python's parser takes by default, are refused
# (PostgreSQL's jsonb cannot store them, and a response carrying one would not be JSON).
STRICT_JSON = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_number)


def json_body() -> dict:
    """The request's JSON object; 415 for another content type, 400 for malformed JSON, JSON not in
    UTF-8, or a non-object."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    raw = raw_body()
    try:
        payload = STRICT_JSON.decode(_utf8_text(raw))
    except RecursionError:
        raise ValidationError("The body is not valid JSON: it is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(payload, dict):
        raise ValidationError("The body must be a JSON object.")
    unstorable_text.refuse_in_json(raw, payload)
    return payload


def _utf8_text(raw: bytes) -> str:
    """The body as text. RFC 8259 (section 8.1) has JSON exchanged between systems in UTF-8: a body in
    UTF-16 or UTF-32 is refused. A UTF-8 byte order mark, which parsers MAY ignore, is ignored, as
    Windows tools often write one."""
    raw = raw.removeprefix(codecs.BOM_UTF8)
    encoding = json.detect_encoding(raw)
    if encoding != "utf-8":
        name = encoding.upper().replace("-BE", " big-endian").replace("-LE", " little-endian")
        raise ValidationError(f"The body must be JSON in UTF-8 (RFC 8259); this one is in {name}. "
                              "Send it encoded as UTF-8.")
    return raw.decode("utf-8", "surrogatepass")


def raw_body() -> bytes:
    """The request's body as bytes; 413 when it is larger than the body limit."""
    raw = request.get_data(cache=True)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if not request.content_length and limit is not None and len(raw) >= limit:
        # A chunked body is cut at the limit without an error; a body that reached it was longer.
        raise PayloadTooLarge(f"The request body is larger than {limit // 1024} KiB.")
    return raw


def endpoint(bp: Blueprint, rule: str, methods=("GET",), *, summary: str, scope: str | None = None,
             body: str | None = None, auth: bool = True, query=(), content_type: str = "application/json",
             response_type: str | tuple[str, ...] = "application/json", responses: dict[int, str | None] | None = None,
             errors: tuple[int, ...] = ()):
    """Register ``view`` on ``bp`` with authentication, a scope check and body validation.

    ``body`` names a schema in ``schemas/``; the validated object is passed as ``payload``. On an
    endpoint whose ``content_type`` is another (a multipart upload), ``body`` describes the JSON it
    also takes: ``payload`` is passed only when the request is JSON.
    ``content_type`` is the request body's media type, ``response_type`` the successful answer's
    (``text/csv`` for a download, ``text/html`` for a page). ``responses`` maps each success status
    to the schema of its JSON body in ``schemas/responses/`` (default: 200, no body described);
    ``errors`` adds the error statuses the view raises itself (a 409 conflict, a 503 from a
    platform) to those the declaration implies. Every route registered this way appears in
    ``/openapi.json``.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(**kwargs):
            if auth:
                g.principal = runtime().auth.authenticate(request)
                if scope:
                    g.principal.require(scope)
            if body and (content_type == "application/json" or request.is_json):
                payload = json_body()
                runtime().schemas.validate(body, payload)
                kwargs["payload"] = payload
            # A dry run changes nothing, so it neither reserves nor replays an Idempotency-Key: the real
            # request may then use the key the dry run carried.
            dry_run = isinstance(kwargs.get("payload"), dict) and kwargs["payload"].get("dry_run") is True
            key = idempotency.presented_key() if auth and request.method in MUTATING and not dry_run else None
            if key is None:
                return view(**kwargs)
            return _idempotent(view, kwargs, g.principal.workspace_id, key)

        bp.add_url_rule(rule, view.__name__, wrapper, methods=list(methods))
        ENDPOINTS.append(EndpointDoc((bp.url_prefix or "") + rule, tuple(methods), summary, scope, body, auth,
                                     bp.name, tuple(query), content_type, response_type,
                                     tuple((responses or {200: None}).items()), tuple(errors)))
        return wrapper

    return decorate


def _idempotent(view, kwargs, workspace_id: int, key: str):
    """Run ``view`` under ``key``: what it answers is stored for replays; what it raises is not.

    Handlers refuse by raising before they act (an unknown account, a rule the schema cannot say),
    and the raised error rolls back the write transaction it interrupts: the request did nothing,
    so the key is released and the corrected request (or the same one, once the account exists)
    goes through, as Stripe does.
    """
    replay = idempotency.begin(workspace_id, key, runtime().clock.now())
    if replay is not None:
        return replay
    try:
        response = current_app.make_response(view(**kwargs))
    except BaseException:
        idempotency.release(workspace_id, key)
        raise
    idempotency.finish(workspace_id, key, response)
    return response


def int_query(name: str, default: int, minimum: int, maximum: int, description: str = "") -> tuple:
    """The ``query=`` declaration of an integer parameter that :func:`int_arg` reads with these bounds."""
    return (name, {"type": "integer", "minimum": minimum, "maximum": maximum, "default": default},
            description or f"{minimum}-{maximum}, default {default}")


def id_query(name: str, description: str, *, required: bool = False) -> tuple:
    """The ``query=`` declaration of an id parameter read by :func:`id_arg` or :func:`client_arg`."""
    return (name, {"type": "integer", "minimum": 1, "maximum": ids.MAX_ID}, description, required)


def int_arg(name: str, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter within bounds; 400 naming it otherwise."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number.", field=name) from None
    if not minimum <= value <= maximum:
        raise ValidationError(f"{name} must be between {minimum} and {maximum}.", field=name)
    return value


def client_arg(*, required: bool = False) -> Client | None:
    """The caller's workspace's client named by the ``client_id`` query parameter, or None when it is absent.

    400 ``validation_error`` (field ``client_id``) when it is not a positive whole number, or absent
    although ``required``; 404 ``not_found`` when no client of the workspace has it (another
    workspace's and archived clients included).
    """
    raw = id_arg("client_id", required=required)
    if raw is None:
        return None
    client_id = ids.parse_id(raw)
    if client_id is None:  # more digits than any id has
        raise NotFound(f"No client {raw} in this workspace.", field="client_id")
    return get_client(g.principal.workspace_id, client_id)


def id_arg(name: str, *, required: bool = False) -> str | None:
    """The query parameter ``name`` holding a positive whole number (as sent), or None when absent.

    400 ``validation_error`` naming it when it is anything else, or absent although ``required``.
    """
    raw = request.args.get(name, "")
    if raw == "":
        if required:
            raise ValidationError(f"{name} is required.", field=name)
        return None
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValidationError(f"{name} must be a positive whole number.", field=name)
    return raw


def private_page_headers(response, *, csp: str, referrer: str):
    """The headers of a server-rendered page that holds private data (the client portal, the ``/app``
    pages): its Content-Security-Policy ``csp`` and Referrer-Policy ``referrer``; never cached, indexed,
    framed or sniffed."""
    response.headers["Content-Security-Policy"] = csp
    response.headers["Referrer-Policy"] = referrer
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response
