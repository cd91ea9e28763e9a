"""The query parameters every list shares: ``limit``, ``cursor`` (the ``next_cursor`` of the previous page)
and, where a list kept it, a bounded ``offset`` or ``page`` (see :mod:`herald.db.paging`)."""

from __future__ import annotations

import peewee as pw
from flask import request

from ... import ids
from ...db.paging import MAX_OFFSET, Page, keyset
from ...errors import ValidationError
from . import int_arg, int_query

CURSOR_HELP = "next_cursor of the previous page (keyset: as fast on the last page as on the first)"


def cursor_query(prefix: str = "") -> tuple:
    """The ``query=`` declaration of ``cursor`` (an id, written with ``prefix`` when the list's ids have one)."""
    pattern = f"^({prefix})?[1-9][0-9]{{0,17}}$" if prefix else "^[1-9][0-9]{0,17}$"
    return ("cursor", {"type": "string", "pattern": pattern}, CURSOR_HELP)


def offset_query() -> tuple:
    """The ``query=`` declaration of a bounded ``offset``."""
    return int_query("offset", 0, 0, MAX_OFFSET, f"rows to skip, at most {MAX_OFFSET:,} (deeper: use cursor)")


def page_query(default_limit: int = 20) -> tuple:
    """The ``query=`` declaration of a bounded ``page`` (its maximum: the deepest page at the default limit)."""
    deepest = MAX_OFFSET // default_limit + 1
    return int_query("page", 1, 1, deepest,
                     f"page number (instead of cursor), from 1, up to {deepest} at limit {default_limit}: a page "
                     f"starting past the first {MAX_OFFSET:,} rows answers 400, page deeper with cursor")


def cursor_arg(prefix: str = "") -> int | None:
    """The ``cursor`` query parameter as an id (``prefix`` optional before it), None when absent; 400
    naming ``cursor`` when it is not one."""
    raw = request.args.get("cursor", "")
    if raw == "":
        return None
    value = ids.parse_id(raw, prefix)
    if value is None:
        raise ValidationError(f"cursor must be the next_cursor of a previous page, such as {prefix}123.",
                              field="cursor")
    return value


def bounded_offset(name: str, offset: int) -> int:
    """``offset`` when within :data:`MAX_OFFSET`; 400 ``validation_error`` on ``name`` pointing to ``cursor``."""
    if offset > MAX_OFFSET:
        raise ValidationError(f"{name} reaches past the first {MAX_OFFSET:,} rows, which an offset walks one by one: "
                              f"page deeper with cursor (the next_cursor of each page).", field=name)
    return offset


def paged_on_request_query(maximum: int) -> tuple:
    """The ``query=`` declaration of ``limit`` for a list answered whole unless the request pages it."""
    return ("limit", {"type": "integer", "minimum": 1, "maximum": maximum},
            f"1-{maximum}: answer a page of this many and its next_cursor (without limit or cursor: every row)")


def listed(query: pw.Select, key: pw.Field, *, limit: tuple[int | None, int], prefix: str = "",
           descending: bool = True, skip: str | None = None) -> tuple[list, str | None]:
    """A page of ``query`` as the request asks (``limit`` as (default, maximum); ``cursor``; ``skip`` names
    the kept offset parameter, ``offset`` or ``page``, read when no cursor is given): its rows and the
    ``next_cursor`` (written with ``prefix``; None on the last page).

    A default of None answers every row when the request gives neither ``limit`` nor ``cursor``: the
    lists the API documents unpaged (accounts, keys, …) stay whole for clients that do not page."""
    after = cursor_arg(prefix)
    if limit[0] is None and after is None and request.args.get("limit", "") == "":
        return list(query.order_by(key.desc() if descending else key)), None
    size = int_arg("limit", limit[0] or limit[1], 1, limit[1])
    offset = 0
    if after is None and skip == "offset":
        offset = bounded_offset("offset", int_arg("offset", 0, 0, 10**9))
    elif after is None and skip == "page":
        offset = bounded_offset("page", (int_arg("page", 1, 1, 10**6) - 1) * size)
    page: Page = keyset(query, key, limit=size, after=after, descending=descending, offset=offset)
    return page.rows, (f"{prefix}{page.next_key}" if page.next_key is not None else None)
