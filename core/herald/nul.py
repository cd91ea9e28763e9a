"""The NUL character (U+0000) is refused at the door: PostgreSQL can store it neither in text nor in
JSON, so a request carrying one would otherwise fail at the database as a 500 (SQLite would keep it,
and the two databases must answer alike).

:func:`refuse_in_request` runs before every request (the path, the query string, URL-encoded
forms); :func:`refuse_in_json` runs on every JSON body once parsed, and only walks it when the raw
body has a ``\\u0000`` escape at all. Multipart forms are read by their handlers (a file is streamed
to disk, never parsed early), which take their text through :func:`strip`.
"""

from __future__ import annotations

from typing import Any

from flask import request

from .errors import NotFound, ValidationError

NUL = "\x00"
MESSAGE = "Text cannot contain the NUL character (\\u0000)."


def refuse_in_request() -> None:
    """404 for a path with a NUL in it; 400 naming the parameter for one in the query string or in a
    URL-encoded form. Costs two substring tests on an ordinary request."""
    if NUL in request.path:
        raise NotFound("There is nothing at an address with a NUL character (%00) in it.")
    if b"%00" in request.query_string:
        _refuse_in_fields(request.args)
    if request.mimetype == "application/x-www-form-urlencoded" and b"%00" in request.get_data(cache=True):
        _refuse_in_fields(request.form)


def refuse_in_json(raw: bytes, payload: Any) -> None:
    """400 naming the field (``posts.0.caption``) of the first NUL in ``payload``, parsed from ``raw``."""
    if b"\\u0000" not in raw:  # the only way JSON can carry a NUL: no escape, nothing to look for
        return
    where = first_nul(payload)
    if where is not None:
        raise ValidationError(MESSAGE, field=strip(where) or None)  # a key's NUL is not echoed back


def first_nul(value: Any) -> str | None:
    """The dotted path of a string (or key) in ``value`` holding a NUL (the first one found), or None.

    Walks with a stack of its own: a body nested as deep as the JSON parser allows must not
    exhaust Python's."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return path
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                inner = f"{path}.{key}" if path else str(key)
                if NUL in str(key):
                    return inner
                children.append((inner, child))
            pending.extend(reversed(children))
        elif isinstance(item, list):
            pending.extend(reversed([(f"{path}.{index}" if path else str(index), child)
                                     for index, child in enumerate(item)]))
    return None


def strip(text: str) -> str:
    """``text`` without NUL characters (for names and text a person typed, where dropping one loses nothing)."""
    return text.replace(NUL, "")


def _refuse_in_fields(fields) -> None:
    for name, value in fields.items(multi=True):
        if NUL in name or NUL in value:
            raise ValidationError(MESSAGE, field=strip(name) or None)
