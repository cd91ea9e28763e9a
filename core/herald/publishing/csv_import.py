"""A spreadsheet of posts (CSV) read as ``POST /v1/publish`` bodies, for ``POST /v1/publish/csv``.

The first row names the columns, in any order and any case: ``content``, ``accounts``,
``schedule``, ``media``, ``platforms``, ``post_type``, ``client_id``, ``campaign_id`` and
``post_id``, the fields of ``POST /v1/publish``. Each further row is one post; an empty cell leaves
its field out. Cells holding several values (``accounts``, ``media``, ``platforms``) separate them
with spaces, commas or semicolons. The file is UTF-8 (a byte-order mark, as Excel writes, is
skipped), separated by commas or, as spreadsheets in many European locales save it, semicolons.

Rows are named as the spreadsheet numbers them: the header is row 1, so the first post is row 2,
and an error's ``field`` is ``rows.<row>.<column>``.
"""

from __future__ import annotations

import csv
import io
import re

from ..db import unstorable_text
from ..errors import ValidationError

COLUMNS = ("content", "accounts", "schedule", "media", "platforms", "post_type", "client_id", "campaign_id",
           "post_id", "first_comment")
LISTS = frozenset({"accounts", "media", "platforms"})
REQUIRED = ("accounts",)
MAX_ROWS = 100  # as POST /v1/publish/batch
_SEPARATORS = re.compile(r"[\s,;]+")


def row_label(row: int) -> str:
    """The ``field`` prefix of the post on spreadsheet row ``row``."""
    return f"rows.{row}"


def parse(data: bytes) -> list[tuple[int, dict]]:
    """The posts of the CSV file ``data``: ``(row, body)`` pairs, ``body`` a ``POST /v1/publish`` body.

    Raises :class:`ValidationError` for a file that is not UTF-8, has no header or no post, names an
    unknown column, lacks a required one, or has more than :data:`MAX_ROWS` posts.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The CSV file is not UTF-8 text: save it as \"CSV UTF-8\" and send it again.") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValidationError("The CSV file is empty: its first row names the columns (content, accounts, "
                              "schedule, …), each further row is a post.")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns = _columns(next(reader))
    posts = []
    for row, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # spreadsheets often save trailing empty rows
        if len(posts) == MAX_ROWS:
            raise ValidationError(f"The CSV file has more than {MAX_ROWS} posts: split it into files of "
                                  f"{MAX_ROWS} at most.", field=row_label(row))
        if any(unstorable_text.NUL in cell for cell in cells):  # Python's csv reads it; PostgreSQL cannot store it
            raise ValidationError(f"Row {row}: {unstorable_text.NUL_MESSAGE}", field=row_label(row))
        if len(cells) > len(columns):
            raise ValidationError(f"Row {row} has {len(cells)} cells but the header names {len(columns)} columns.",
                                  field=row_label(row))
        posts.append((row, _body(columns, cells)))
    if not posts:
        raise ValidationError("The CSV file has a header but no post: add one row per post under it.")
    return posts


def _columns(header: list[str]) -> list[str]:
    names = [name.strip().lower() for name in header]
    for name in names:
        if name not in COLUMNS:
            raise ValidationError(f"Unknown column {name!r}. Columns: {', '.join(COLUMNS)}.", field=f"columns.{name}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationError(f"The column {repeated[0]!r} appears twice.", field=f"columns.{repeated[0]}")
    for name in REQUIRED:
        if name not in names:
            raise ValidationError(f"The CSV file needs an {name!r} column.", field=f"columns.{name}")
    return names


def _body(columns: list[str], cells: list[str]) -> dict:
    body: dict = {}
    for name, cell in zip(columns, cells, strict=False):
        value = cell.strip()
        if not value:
            continue
        if name in LISTS:
            body[name] = [item for item in _SEPARATORS.split(value) if item]
        else:
            body[name] = value
    return body
