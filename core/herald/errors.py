"""The one error envelope: ``{"error": {"code", "message", "field"?}}``.

Handlers raise :class:`HeraldError` (or let werkzeug raise its HTTP exceptions); the handlers
registered by :func:`register_error_handlers` turn every failure into the envelope, so no
response from the API is ever an HTML error page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import peewee as pw
from flask import Flask, Response, current_app, g, has_request_context, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from . import db_errors, request_body

log = logging.getLogger("herald.errors")

# The code each HTTP status maps to when werkzeug (not Herald) raised it.
_HTTP_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# An error quotes what the client sent so it can find it, not to send it back whole: a 1 MB value
# once made a 1 MB error. Quoted values ('…' or "…") and each part of a field's path (a property
# name is the client's text too) are cut to QUOTE_LIMIT characters; a field's path to FIELD_LIMIT
# (a path 900 levels deep still fits), and a message to MESSAGE_LIMIT.
QUOTE_LIMIT = 100
FIELD_LIMIT = 2000
MESSAGE_LIMIT = 2000
# A quote opens after a non-word character: the apostrophes of prose (the client's, Herald's) do not.
_LONG_QUOTE = re.compile("|".join(f"(?<!\\w){q}[^{q}\\n]{{{QUOTE_LIMIT + 1},}}{q}" for q in "'\""))


def shorten(text: str, limit: int) -> str:
    """``text`` when it has at most ``limit`` characters, else its start and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def capped_field(field: str) -> str:
    """A field's path with each part cut to :data:`QUOTE_LIMIT` characters, :data:`FIELD_LIMIT` in all."""
    if len(field) > QUOTE_LIMIT:
        field = ".".join(shorten(part, QUOTE_LIMIT) for part in field.split("."))
    return shorten(field, FIELD_LIMIT)


def _shorten_quote(match: re.Match) -> str:
    quoted = match.group()
    return f"{quoted[:QUOTE_LIMIT + 1]}…{quoted[-1]} ({len(quoted) - 2:,} characters)"


def capped(message: str) -> str:
    """``message`` with every quoted value cut to :data:`QUOTE_LIMIT` characters, and at most
    :data:`MESSAGE_LIMIT` characters in all."""
    if len(message) <= QUOTE_LIMIT:
        return message
    return shorten(_LONG_QUOTE.sub(_shorten_quote, message), MESSAGE_LIMIT)


class HeraldError(Exception):
    """An error a client can act on: ``code`` (snake_case), ``message``, optional ``field``."""

    status = 400
    code = "validation_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 status: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field
        self.headers = headers or {}

    def to_dict(self) -> dict:
        """The envelope body for this error (long quoted values and fields cut: :func:`capped`)."""
        body = {"code": self.code, "message": capped(self.message)}
        if self.field is not None:
            body["field"] = capped_field(self.field)
        return {"error": body}


class ValidationError(HeraldError):
    """400: the request body or a parameter is invalid; ``field`` names it."""

    status = 400
    code = "validation_error"


class Unauthorized(HeraldError):
    """401: no credentials, or credentials that are invalid, revoked or expired."""

    status = 401
    code = "unauthorized"


class Forbidden(HeraldError):
    """403: authenticated, but a scope or role is missing."""

    status = 403
    code = "forbidden"


class FeatureDisabled(HeraldError):
    """403: the plugin providing this feature is disabled for the workspace."""

    status = 403
    code = "feature_disabled"


class NotFound(HeraldError):
    """404: no such resource in the caller's workspace."""

    status = 404
    code = "not_found"


class Conflict(HeraldError):
    """409: the request conflicts with the resource's current state."""

    status = 409
    code = "conflict"


class PayloadTooLarge(HeraldError):
    """413: the body or an uploaded file is over the limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(HeraldError):
    """415: the request's (or an upload's) content type is not accepted here."""

    status = 415
    code = "unsupported_media_type"


def error_response(error: HeraldError) -> Response:
    """Build the JSON response for ``error``, carrying its headers."""
    response = jsonify(error.to_dict())
    response.status_code = error.status
    for name, value in error.headers.items():
        response.headers[name] = value
    if "Retry-After" in error.headers and has_request_context():
        # flask-limiter rewrites Retry-After on every response (to its window's reset when later);
        # the app's last after_request puts this one back.
        g.retry_after = error.headers["Retry-After"]
    return response


def _from_http_exception(exc: HTTPException) -> HeraldError:
    status = exc.code or 500
    code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "validation_error")
    messages = {
        404: f"No route matches {request.method} {request.path}.",
        405: f"{request.method} is not allowed on {request.path}."
             + (f" Allowed: {', '.join(sorted(exc.valid_methods))}." if getattr(exc, "valid_methods", None)
                else ""),
        413: "The request body is larger than this endpoint accepts.",
    }
    message = messages.get(status) or exc.description or exc.name
    if isinstance(exc, (request_body.UnreadableBody, ClientDisconnected)):  # the HTTP message itself, not its content
        code = request_body.CODE
        if isinstance(exc, ClientDisconnected):
            message = "The request body ended before its Content-Length. Send it again, whole."
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return HeraldError(message, code=code, status=status, headers=headers)


def warning(code: str, message: str, field: str | None = None) -> dict[str, str]:
    """One entry of a successful response's ``warnings``: accepted, but the caller should know.

    The same ``code``/``message``/``field`` shape as an error, so clients handle both alike.
    """
    return {"code": code, "message": capped(message), **({"field": capped_field(field)} if field else {})}


ROUTING_ERROR_PAGES = "herald_routing_error_pages"


def serve_routing_errors_as_pages(app: Flask, prefix: str, render: Callable[[HTTPException], Response]) -> None:
    """Answer requests under ``prefix`` that match no route (404, 405) with ``render(exc)``, not JSON.

    Flask runs a blueprint's error handlers only for requests one of its routes matched, so a
    mistyped address under a blueprint serving pages to people would otherwise get the API's
    envelope, without the headers that blueprint adds to its pages.
    """
    app.extensions.setdefault(ROUTING_ERROR_PAGES, []).append((prefix, render))


def _routing_error_page(exc: HTTPException) -> Response | None:
    if request.blueprint is not None:
        return None
    for prefix, render in current_app.extensions.get(ROUTING_ERROR_PAGES, ()):
        if request.path.startswith(prefix):
            return render(exc)
    return None


def register_error_handlers(app: Flask) -> None:
    """Install handlers that turn every exception into the envelope."""

    @app.errorhandler(HeraldError)
    def _herald_error(exc: HeraldError):
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        page = _routing_error_page(exc)
        if page is not None:
            return page
        response = error_response(_from_http_exception(exc))
        # Keep headers werkzeug or flask-limiter attached (Retry-After, X-RateLimit-*, Allow).
        original = exc.get_response() if exc.response is None else exc.response
        for name in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            if name in original.headers and name not in response.headers:
                response.headers[name] = original.headers[name]
        return response

    @app.errorhandler(pw.OperationalError)
    @app.errorhandler(pw.InterfaceError)
    def _database_error(exc: pw.DatabaseError):
        if not db_errors.is_unavailable(exc):
            return _unexpected(exc)
        log.warning("database unavailable in %s %s (request %s): %s", request.method, request.path,
                    getattr(g, "request_id", "-"), exc)
        wait = db_errors.RETRY_AFTER_SECONDS
        return error_response(HeraldError(f"The database is not answering. Retry in {wait} seconds.",
                                          code="database_unavailable", status=503,
                                          headers={"Retry-After": str(wait)}))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        request_id = getattr(g, "request_id", "-")
        log.exception("unhandled error in %s %s (request %s)", request.method, request.path, request_id)
        error = HeraldError(
            f"Something went wrong on our side. Quote request id {request_id} when reporting it.",
            code="internal_error", status=500)
        return error_response(error)
