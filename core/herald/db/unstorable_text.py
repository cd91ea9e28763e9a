"""Text no database can store is refused at the door, with a 400 naming the field, instead of failing
at the database as a 500:

- the NUL character (U+0000): PostgreSQL stores it neither in text nor in jsonb (SQLite would keep
  it, and the two databases must answer alike);
- a lone surrogate (``\\ud800`` to ``\\udfff`` without its pair, which JSON's escapes can spell but
  which is not a character): it cannot be encoded as UTF-8, so neither database takes it.

:func:`refuse_in_request` runs before every request (the path, the query string, URL-encoded
forms: werkzeug decodes those with replacement characters, so only a NUL can get through);
:func:`refuse_in_json` runs on every JSON body once parsed, and only walks it when the raw body has
such an escape at all. Multipart forms are read by their handlers (a file is streamed to disk, never
parsed early), which take their text through :func:`strip`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request

from ..errors import NotFound, ValidationError

NUL = "\x00"
NUL_MESSAGE = "Text cannot contain the NUL character (\\u0000)."
SURROGATE = re.compile("[\ud800-\udfff]")  # in a parsed str, a surrogate is always a lone one
SURROGATE_MESSAGE = ("Text cannot contain a lone surrogate (\\ud800 to \\udfff without its pair): it is not a "
                     "character. Send the character itself, or both halves of its escape.")


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
    """400 naming the field (``posts.0.caption``) of text in ``payload`` (parsed from ``raw``) that no
    database can store."""
    # Only an escape can put either into JSON: without one there is nothing to look for.
    if b"\\u0000" not in raw and b"\\ud" not in raw and b"\\uD" not in raw:
        return
    found = first_unstorable(payload)
    if found is not None:
        path, message = found
        raise ValidationError(message, field=strip(path) or None)  # a key's NUL is not echoed back


def first_unstorable(value: Any) -> tuple[str, str] | None:
    """The dotted path of a string (or key) in ``value`` that no database can store, with why (the
    first one found), or None.

    Walks with a stack of its own: a body nested as deep as the JSON parser allows must not exhaust
    Python's."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            problem = _problem(item)
            if problem:
                return path, problem
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                inner = f"{path}.{key}" if path else str(key)
                problem = _problem(str(key))
                if problem:
                    return SURROGATE.sub("", inner), problem
                children.append((inner, child))
            pending.extend(reversed(children))
        elif isinstance(item, list):
            pending.extend(reversed([(f"{path}.{index}" if path else str(index), child)
                                     for index, child in enumerate(item)]))
    return None


def strip(text: str) -> str:
    """``text`` without NUL characters (for names and text a person typed, where dropping one loses nothing)."""
    return text.replace(NUL, "")


def _problem(text: str) -> str | None:
    if NUL in text:
        return NUL_MESSAGE
    if SURROGATE.search(text):
        return SURROGATE_MESSAGE
    return None


def _refuse_in_fields(fields) -> None:
    for name, value in fields.items(multi=True):
        if NUL in name or NUL in value:
            raise ValidationError(NUL_MESSAGE, field=strip(name) or None)
