"""Ids as clients send them: ``42``, ``"42"`` or ``"post_42"``.

Every id Herald hands out is a positive integer of at most 18 digits. Anything else cannot name a
row, and a bigger number would not even fit the databases' 64-bit integers (SQLite raises
OverflowError on it), so it is refused before any query.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

MAX_ID = 999_999_999_999_999_999  # 18 digits, as the schemas' id patterns allow


def parse_id(value: Any, prefix: str = "") -> int | None:
    """``value`` (``42``, ``"42"``, or ``"<prefix>42"``) as an id; None when it cannot be one."""
    if isinstance(value, bool):
        return None
    text = str(value)
    if prefix and text.startswith(prefix):
        text = text[len(prefix):]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    number = int(text)
    return number if number >= 1 else None


class IdConverter(IntegerConverter):
    """``<int:…>`` in routes: a number bigger than :data:`MAX_ID` matches no route (a 404), never a query."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)
