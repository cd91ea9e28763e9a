"""CSV that is safe to open in a spreadsheet, written a few rows at a time.

Quoting is RFC 4180's as Python's ``csv`` module writes it (its default dialect, byte for byte:
fields with commas, quotes or line breaks are quoted, quotes doubled, lines end with CRLF, a row of
one empty field is ``""``), in UTF-8. A batch is written a column at a time (:func:`csv_chunk`): a
column none of whose texts needs quotes (all but the captions, mostly) is found so by one scan of its
joined text, and the rows are joined by ``str.join`` and encoded a line at a time. ``csv.writer``
copied every character of every field one at a time, and a caption with an emoji made the whole
batch's text four bytes a character before it was encoded (issue 25: a third of the posts CSV's CPU).

Against formula injection (OWASP "CSV Injection"), every cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is prefixed with ``'``, so a spreadsheet shows it as text instead
of evaluating it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTED_WHEN = (",", '"', "\r", "\n")  # a field holding any of these is quoted (the csv module's minimal quoting)


def safe_cell(value: Any) -> str:
    """``value`` as CSV cell text: ``None`` is empty, and text a spreadsheet would run as a formula gets a ``'``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def safe_texts(column: Sequence[Any]) -> Sequence[str]:
    """The CSV text of each cell of a column: made safe (see :func:`safe_cell`; ``None`` empty, whole
    numbers of 0 or more as their digits: neither can start a formula) and quoted where the ``csv``
    module quotes. The common columns are checked by builtins mapped over them, with no Python call a
    value: whole numbers, and text none of which starts a formula (most of it), kept as it is when its
    joined text holds nothing to quote (all but the captions, mostly). One pass finds the column's types."""
    found = set(map(type, column))
    nulls = type(None) in found
    found.discard(type(None))
    if found <= {int} and min(filter(None, column), default=0) >= 0:  # digits need neither guard nor quotes
        return ["" if value is None else str(value) for value in column] if nulls else list(map(str, column))
    if found <= {int, float} and not nulls:  # numbers: their text, as csv writes them (str = repr)
        column, found = list(map(str, column)), {str}
    if found <= {str}:
        if nulls:
            column = ["" if value is None else value for value in column]
        if any(map(str.startswith, column, itertools.repeat(FORMULA_TRIGGERS))):
            column = list(map(safe_cell, column))
    else:
        column = [str(value) if type(value) is int and value >= 0 else safe_cell(value) for value in column]
    if not any(map("".join(column).__contains__, QUOTED_WHEN)):
        return column
    return ['"' + value.replace('"', '""') + '"' if "," in value or '"' in value or "\n" in value or "\r" in value
            else value for value in column]


def csv_chunk(columns: Sequence[Sequence[Any]]) -> bytes:
    """The CSV lines, in UTF-8, of a batch of rows given as its columns (all of the same length, at least
    one row), every cell made safe (:func:`safe_texts`), as ``csv.writer(...).writerows`` writes the rows.
    Lines are encoded one at a time: a line with an emoji is four bytes a character, not the whole batch."""
    texts = [safe_texts(column) for column in columns]
    if len(texts) == 1:  # the csv module writes a row of one empty field as "" (an empty line is no row)
        texts = [[text or '""' for text in texts[0]]]
    return b"\r\n".join(map(str.encode, map(",".join, zip(*texts, strict=True)))) + b"\r\n"


def csv_batches(header: list[str], batches: Iterable[Sequence[Sequence[Any]]]) -> Iterator[bytes]:
    """The CSV text, in UTF-8, of ``header`` and then of each batch (for streaming), a batch given as its
    columns (as :func:`csv_chunk` takes it: a batch read from the database is turned into text a column at
    a time, so it is transposed once, not back into rows and again into columns)."""
    head = csv_chunk([[name] for name in header])
    for columns in batches:
        if columns and columns[0]:
            yield head + csv_chunk(columns)
            head = b""
    if head:  # no rows at all: the header alone
        yield head


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]], flush_every: int = 200) -> Iterator[bytes]:
    """The CSV text, in UTF-8, of ``header`` and ``rows``, yielded in chunks of ``flush_every`` rows (for streaming)."""
    rows = iter(rows)
    return csv_batches(header, iter(lambda: list(zip(*itertools.islice(rows, flush_every), strict=True)), []))
