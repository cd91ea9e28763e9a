"""CSV that is safe to open in a spreadsheet, written a few rows at a time.

Quoting is Python's ``csv`` module's (RFC 4180: fields with commas, quotes or line breaks are
quoted, quotes doubled). Against formula injection (OWASP "CSV Injection"), every cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'``, so a
spreadsheet shows it as text instead of evaluating it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """``value`` as CSV cell text: ``None`` is empty, and text a spreadsheet would run as a formula gets a ``'``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]], flush_every: int = 200) -> Iterator[str]:
    """The CSV text of ``header`` and ``rows``, yielded in chunks of ``flush_every`` rows (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(name) for name in header])
    pending = 1
    for row in rows:
        # None (written empty) and whole numbers of 0 or more cannot start a formula: only the rest is checked.
        writer.writerow([value if value is None or (type(value) is int and value >= 0) else safe_cell(value)
                         for value in row])
        pending += 1
        if pending >= flush_every:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if buffer.tell():
        yield buffer.getvalue()
