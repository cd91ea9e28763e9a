"""The application's error handlers: every exception a request raises becomes the one envelope
(:mod:`herald.errors`), never an HTML page; a database that is not answering is a 503 with
``Retry-After``; anything unexpected is a 500 quoting the request id."""

from __future__ import annotations

import logging
from collections.abc import Callable

import peewee as pw
from flask import Flask, Response, current_app, g, has_request_context, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from ..db import availability
from ..errors import HeraldError, code_for_status
from . import request_body

log = logging.getLogger("herald.errors")


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
    # werkzeug's 400s are about the content (JSON that does not parse); the message's own are request_body's.
    code = code_for_status(status, bad_request="validation_error")
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
    return HeraldError(message, code=code, headers=headers)


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
        if not availability.is_unavailable(exc):
            return _unexpected(exc)
        log.warning("database unavailable in %s %s (request %s): %s", request.method, request.path,
                    getattr(g, "request_id", "-"), exc)
        wait = availability.RETRY_AFTER_SECONDS
        return error_response(HeraldError(f"The database is not answering. Retry in {wait} seconds.",
                                          code="database_unavailable",
                                          headers={"Retry-After": str(wait)}))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        request_id = getattr(g, "request_id", "-")
        log.exception("unhandled error in %s %s (request %s)", request.method, request.path, request_id)
        error = HeraldError(
            f"Something went wrong on our side. Quote request id {request_id} when reporting it.",
            code="internal_error")
        return error_response(error)
