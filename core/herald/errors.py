"""The one error envelope, ``{"error": {"code", "message", "field"?}}``, and the catalogue of its codes.

Code at every layer raises :class:`HeraldError` (or lets werkzeug raise its HTTP exceptions); the
handlers :func:`herald.web.error_handlers.register_error_handlers` installs turn every failure into
the envelope, so no response from the API is ever an HTML error page. What ``herald serve`` refuses
before the application sees a request is built by the same :meth:`HeraldError.to_dict`.

Every code the API can answer is in :data:`ERROR_CODES` with its HTTP status and meaning: the core's
(:data:`CORE_ERROR_CODES`) and those plugins declare (``register_error_codes``). A
:class:`HeraldError` takes its status from there, and one with a code the catalogue lacks cannot be
made (:class:`UnknownErrorCode`). The OpenAPI document, ``herald docs`` and the README's table are
written from the catalogue (the running registry's view: ``PluginRegistry.error_code_entries``).
"""

from __future__ import annotations

import re

from .catalogue import Catalogue, ErrorCode

__all__ = ["CORE_ERROR_CODES", "ERROR_CODES", "Conflict", "ErrorCode", "FeatureDisabled", "Forbidden",
           "HeraldError", "NotFound", "PayloadTooLarge", "Unauthorized", "UnknownErrorCode",
           "UnsupportedMediaType", "ValidationError", "capped", "capped_field", "code_for_status",
           "shorten", "warning"]

CORE_ERROR_CODES = (
    ErrorCode("validation_error", 400, "The body, a parameter or a query value is invalid (malformed JSON, a "
              "schema violation, an unknown action, text holding NUL or a lone surrogate); `field` names it."),
    ErrorCode("bad_request", 400, "The HTTP message itself is broken: a malformed chunked body, a body shorter "
              "than its Content-Length, a request line or header that is not HTTP."),
    ErrorCode("no_api_key", 400, "An AI feature was asked for and the workspace has no API key for its AI "
              "provider (add one with PUT /api/settings)."),
    ErrorCode("invalid_api_key", 400, "The AI provider refused the workspace's API key."),
    ErrorCode("unauthorized", 401, "No credentials, or a key or session that is wrong, revoked or expired."),
    ErrorCode("plan_limit", 402, "The plan's AI generations for this calendar month are used up (not 429: "
              "retrying cannot help before the month ends)."),
    ErrorCode("forbidden", 403, "Authenticated, but a scope or role is missing (the message names it), or a "
              "cross-site or CSRF check failed."),
    ErrorCode("feature_disabled", 403, "The plugin behind the feature is disabled for the workspace, or no "
              "plugin providing it is loaded (the message says how to enable or install it)."),
    ErrorCode("not_found", 404, "No such route, or no such resource in the caller's workspace."),
    ErrorCode("method_not_allowed", 405, "The route does not take this method; the Allow header lists those "
              "it takes."),
    ErrorCode("request_timeout", 408, "`herald serve` received part of a request and not the rest within its "
              "request timeout, and closed the connection."),
    ErrorCode("conflict", 409, "The resource's state forbids the change (already published, no longer waiting "
              "for approval), or a request with the same Idempotency-Key is still running."),
    ErrorCode("idempotency_conflict", 409, "The Idempotency-Key was already used with a different request body."),
    ErrorCode("payload_too_large", 413, "The body or an uploaded file is over the limit (JSON 1 MiB, a file "
              "50 MB, any body 51 MiB)."),
    ErrorCode("uri_too_long", 414, "The request line is longer than `herald serve` accepts (4094 bytes)."),
    ErrorCode("unsupported_media_type", 415, "The body's content type is not the one the endpoint takes, or an "
              "upload is of a type not accepted or does not decode as its type."),
    ErrorCode("expectation_failed", 417, "The request's Expect header asks for something other than "
              "100-continue."),
    ErrorCode("ai_blocked", 422, "The AI provider refused to answer (safety, recitation, block lists); nothing "
              "was stored."),
    ErrorCode("fetch_failed", 422, "A page to analyse could not be fetched or has too little readable text."),
    ErrorCode("media_fetch_failed", 422, "A media URL could not be downloaded: its host does not resolve or "
              "answer, it answered other than 2xx, too slowly, cut short, or redirected too often."),
    ErrorCode("invalid_logo", 422, "The upload given as a logo is not a readable image, is too large, or has "
              "no opaque pixel."),
    ErrorCode("rate_limited", 429, "Too many requests; Retry-After says when to try again, X-RateLimit-* "
              "describe the limit."),
    ErrorCode("headers_too_large", 431, "More header lines than `herald serve` accepts (100), or one longer "
              "than 8190 bytes."),
    ErrorCode("platform_error", 500, "A call to a social platform, made for this request, failed unexpectedly (the "
              "platform's plugin could not complete it); retry with the same Idempotency-Key."),
    ErrorCode("internal_error", 500, "Something failed on Herald's side; it is logged with the request id, "
              "which the message quotes."),
    ErrorCode("unknown_job_kind", 500, "A background job's kind is one no code on this server runs (in a "
              "job's error, GET /api/jobs/{id})."),
    ErrorCode("job_interrupted", 500, "A background job's worker stopped before it finished, and the job was "
              "not run again (in a job's error, GET /api/jobs/{id})."),
    ErrorCode("not_implemented", 501, "The request uses an HTTP feature `herald serve` does not implement (a "
              "transfer coding other than chunked)."),
    ErrorCode("ai_truncated", 502, "The AI provider's answer was cut off at the model's output limit; nothing "
              "was stored."),
    ErrorCode("ai_invalid_output", 502, "The AI provider's answer was not the JSON asked for; nothing was stored."),
    ErrorCode("ai_provider_error", 502, "The AI provider refused the request for another reason (a model, a "
              "permission, a request it calls bad)."),
    ErrorCode("ai_unavailable", 503, "The AI provider is overloaded, rate-limited or unreachable; nothing was "
              "generated, nothing paid."),
    ErrorCode("queue_unavailable", 503, "The job queue (Redis) is unavailable; nothing was started."),
    ErrorCode("platform_unavailable", 503, "The social platform cannot be reached right now (with Retry-After)."),
    ErrorCode("database_unavailable", 503, "The database is not answering (down, restarting, out of connections "
              "or locked past the busy timeout); Retry-After says when to try again."),
)

#: Every error code of this process: the core's, then each loaded plugin's.
ERROR_CODES: Catalogue[ErrorCode] = Catalogue("error code", CORE_ERROR_CODES)


# The code of each status a library refuses a request with by itself (werkzeug in the application,
# gunicorn in `herald serve`); a 400 is theirs to name (see code_for_status).
_LIBRARY_STATUS_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                         408: "request_timeout", 409: "conflict", 413: "payload_too_large", 414: "uri_too_long",
                         415: "unsupported_media_type", 417: "expectation_failed", 429: "rate_limited",
                         431: "headers_too_large", 500: "internal_error", 501: "not_implemented"}


def code_for_status(status: int, bad_request: str = "bad_request") -> str:
    """The catalogued code for an HTTP ``status`` a library (werkzeug, gunicorn) refused a request with.

    ``bad_request`` is the code of a 400, and of any other 4xx Herald has no code of its own for (it is
    answered 400); a 5xx without one is ``internal_error`` (answered 500).
    """
    if status in _LIBRARY_STATUS_CODES:
        return _LIBRARY_STATUS_CODES[status]
    return "internal_error" if status >= 500 else bad_request


class UnknownErrorCode(LookupError):
    """A :class:`HeraldError` was made with a code that is not in :data:`ERROR_CODES` (a bug, not a
    client's error: declare the code in the catalogue, or with ``register_error_codes``)."""


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
    """An error a client can act on: ``code`` (catalogued), ``message``, optional ``field``.

    Its HTTP ``status`` is the code's in :data:`ERROR_CODES`; a code the catalogue lacks raises
    :class:`UnknownErrorCode`. The subclasses below (and plugins') only fix a code.
    """

    code = "validation_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if self.code not in ERROR_CODES:
            raise UnknownErrorCode(f"error code {self.code!r} is not in Herald's error catalogue (herald.errors): "
                                   "declare it there, or in the plugin's register_error_codes")
        self.field = field
        self.headers = headers or {}

    @property
    def status(self) -> int:
        """The HTTP status of :attr:`code`, from the catalogue."""
        return ERROR_CODES[self.code].status

    def to_dict(self) -> dict:
        """The envelope body for this error (long quoted values and fields cut: :func:`capped`)."""
        body = {"code": self.code, "message": capped(self.message)}
        if self.field is not None:
            body["field"] = capped_field(self.field)
        return {"error": body}


class ValidationError(HeraldError):
    """400: the request body or a parameter is invalid; ``field`` names it."""

    code = "validation_error"


class Unauthorized(HeraldError):
    """401: no credentials, or credentials that are invalid, revoked or expired."""

    code = "unauthorized"


class Forbidden(HeraldError):
    """403: authenticated, but a scope or role is missing."""

    code = "forbidden"


class FeatureDisabled(HeraldError):
    """403: the plugin providing this feature is disabled for the workspace."""

    code = "feature_disabled"


class NotFound(HeraldError):
    """404: no such resource in the caller's workspace."""

    code = "not_found"


class Conflict(HeraldError):
    """409: the request conflicts with the resource's current state."""

    code = "conflict"


class PayloadTooLarge(HeraldError):
    """413: the body or an uploaded file is over the limit."""

    code = "payload_too_large"


class UnsupportedMediaType(HeraldError):
    """415: the request's (or an upload's) content type is not accepted here."""

    code = "unsupported_media_type"


def warning(code: str, message: str, field: str | None = None) -> dict[str, str]:
    """One entry of a successful response's ``warnings``: accepted, but the caller should know.

    The same ``code``/``message``/``field`` shape as an error, so clients handle both alike.
    """
    return {"code": code, "message": capped(message), **({"field": capped_field(field)} if field else {})}
