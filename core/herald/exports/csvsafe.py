"""CSV that is safe to open in a spreadsheet, written a few rows at a time.

Quoting is Python's ``csv`` module's (RFC 4180: fields with commas, quotes or line breaks are
quoted, quotes doubled). Against formula injection (OWASP "CSV Injection"), every cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'``, so a
spreadsheet shows it as text instead of evaluating it.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
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


def safe_column(column: Sequence[Any]) -> Sequence[Any]:
    """One column of a batch made safe (see :func:`safe_cell`), written as ``csv`` writes it: ``None``
    empty, whole numbers of 0 or more as they are (neither can start a formula). A column of such
    numbers, or of text none of which starts a formula (most of them), is checked by builtins mapped
    over it and kept as it is: no Python call a value."""
    found = set(map(type, column)) - {type(None)}
    if found <= {int} and min(filter(None, column), default=0) >= 0:
        return column
    if found <= {int, float} and None not in column:  # numbers: their text, as csv writes them (str = repr)
        column, found = list(map(str, column)), {str}
    if found <= {str} and not any(map(str.startswith, filter(None, column), itertools.repeat(FORMULA_TRIGGERS))):
        return column
    return [value if value is None or (type(value) is int and value >= 0) else safe_cell(value) for value in column]


def csv_batches(header: list[str], batches: Iterable[Sequence[Sequence[Any]]]) -> Iterator[str]:
    """The CSV text of ``header`` and then of each batch of rows (for streaming), every cell made safe
    a column at a time (:func:`safe_column`) and each batch written by one ``writerows``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(name) for name in header])
    for batch in batches:
        if batch:
            writer.writerows(zip(*[safe_column(column) for column in zip(*batch, strict=True)], strict=True))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():  # no rows at all: the header alone
        yield buffer.getvalue()


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]], flush_every: int = 200) -> Iterator[str]:
    """The CSV text of ``header`` and ``rows``, yielded in chunks of ``flush_every`` rows (for streaming)."""
    rows = iter(rows)
    return csv_batches(header, iter(lambda: list(itertools.islice(rows, flush_every)), []))
