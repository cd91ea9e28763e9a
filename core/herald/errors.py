"""The one error envelope: ``{"error": {"code", "message", "field"?}}``.

Code at every layer raises :class:`HeraldError` (or lets werkzeug raise its HTTP exceptions); the
handlers :func:`herald.web.error_handlers.register_error_handlers` installs turn every failure into
the envelope, so no response from the API is ever an HTML error page.
"""

from __future__ import annotations

import re

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


def warning(code: str, message: str, field: str | None = None) -> dict[str, str]:
    """One entry of a successful response's ``warnings``: accepted, but the caller should know.

    The same ``code``/``message``/``field`` shape as an error, so clients handle both alike.
    """
    return {"code": code, "message": capped(message), **({"field": capped_field(field)} if field else {})}
