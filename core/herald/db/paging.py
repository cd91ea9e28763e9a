"""Keyset pagination, the one way every list pages (``cursor`` in, ``next_cursor`` out).

A page is the rows after the cursor in the list's key order (the row id: ids only grow, so newest
first is ``id DESC``), read as an index walk that starts at the cursor: the cost of a page does not
depend on how deep it is, and rows inserted or deleted meanwhile never shift a page (no gaps, no
repeats). ``OFFSET`` paging (``page=`` / ``offset=``, kept where the documents have it) walks every row it
skips, so it is bounded by :data:`MAX_OFFSET`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee as pw

MAX_OFFSET = 10_000  # the deepest row an OFFSET may skip to; deeper pages are read with a cursor


@dataclass(frozen=True)
class Page:
    """One page of a list: its ``rows`` and the cursor of the next page (None on the last)."""

    rows: list
    next_key: Any | None


def keyset(query: pw.Select, key: pw.Field, *, limit: int, after: Any | None = None, descending: bool = True,
           offset: int = 0) -> Page:
    """The ``limit`` rows of ``query`` that follow ``after`` in ``key`` order (descending: ``key < after``),
    skipping ``offset`` rows first (at most :data:`MAX_OFFSET`, checked by the caller that names the field)."""
    if after is not None:
        query = query.where(key < after if descending else key > after)
    query = query.order_by(key.desc() if descending else key.asc())
    if offset:
        query = query.offset(offset)
    rows = list(query.limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, getattr(rows[-1], key.name) if more else None)


def exact_total(query: pw.Select) -> int:
    """``COUNT(*)`` of ``query``: the total of a filter the counters of :mod:`herald.db.post_counts` do not
    hold, exact, read through the index that serves the list."""
    return query.order_by().count()
