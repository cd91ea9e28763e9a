"""Rows of the GDPR archive as JSON lines, written fast: each table's columns get an encoder once,
chosen by the column's type, and values go from the database driver's tuples to JSON text without
model objects or a dict per row (issue 25: 4 million rows in well under a minute).

Secrets are replaced by ``"[redacted]"`` (see :mod:`herald.exports.archive`): a redacted column's
values, and the values of secret-named keys inside JSON columns at any depth.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import itertools
import json
import math
import uuid
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring
from typing import Any

import peewee as pw

from ..db.models import JSONField, isoformat

REDACTED = "[redacted]"
SECRET_WORDS = frozenset({"password", "passphrase", "secret", "token", "digest", "hash", "encrypted", "key",
                          "credentials"})
def is_secret_name(name: str) -> bool:
    """Whether a column or JSON key named ``name`` holds a secret (by its last word: ``token_encrypted``)."""
    return name.lower().rsplit("_", 1)[-1] in SECRET_WORDS


def redact_json(value: Any) -> Any:
    """``value`` (parsed JSON) with the values of secret-named keys replaced, at any depth."""
    if isinstance(value, dict):
        return {key: (REDACTED if value[key] is not None and is_secret_name(str(key)) else redact_json(value[key]))
                for key in value}
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


def json_value(value: Any) -> Any:
    """A column value as JSON: times as ``…Z`` strings, decimals and UUIDs as text, bytes as ``{"base64"}``."""
    if isinstance(value, dt.datetime):
        return isoformat(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    return value


_dumps = json.JSONEncoder(ensure_ascii=False).encode
# JSON text in which no key can name a secret (none of the words appears anywhere) is written as it is.
_WORDS = tuple(sorted(SECRET_WORDS))


def _may_name_secret(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _WORDS)


def selected_as_moment(field: pw.Field, database: pw.Database) -> pw.Node:
    """What to select for a naive time column ``field`` so that the database returns it as the API writes it
    (``2026-06-01T09:00:00Z``: :func:`herald.db.models.isoformat`, to the second) or NULL, with no conversion
    a value in Python: PostgreSQL's ``to_char``, SQLite's ``strftime`` of its stored text."""
    if isinstance(database, pw.PostgresqlDatabase):
        return pw.fn.to_char(field, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    return pw.fn.strftime("%Y-%m-%dT%H:%M:%SZ", field)


def selected_as_text(field: pw.Field, database: pw.Database) -> pw.Node:
    """What to select for ``field`` so that its values reach Python as cheaply as they are encoded: a naive
    time column on PostgreSQL as the database's text of it to the second (``2026-06-01 09:00:00``, what
    SQLite stores and the encoders turn into JSON without a call a value; the driver would otherwise make
    a ``datetime`` of each, and Python format it again); any other column as it is."""
    if isinstance(database, pw.PostgresqlDatabase) and isinstance(field, pw.DateTimeField) \
            and field.field_type == "DATETIME":  # TIMESTAMP without time zone: the stored naive UTC time
        return pw.fn.to_char(field, "YYYY-MM-DD HH24:MI:SS")
    return field


def _generic(field: pw.Field) -> Callable[[Any], str]:
    """Any column: the value as peewee reads it, JSON containers redacted, then :func:`json_value`."""
    def encode(value: Any) -> str:
        value = field.python_value(value)
        if isinstance(value, dict | list):
            value = redact_json(value)
        return _dumps(json_value(value))
    return encode


def _encoder(field: pw.Field, redacted: bool) -> Callable[[Any], str]:
    """The JSON text of a non-null value of ``field`` as the driver returns it."""
    generic = _generic(field)
    if redacted:
        return lambda value: '"' + REDACTED + '"'
    if isinstance(field, pw.BooleanField):
        return lambda value: "true" if value else "false"
    if isinstance(field, JSONField):
        def json_text(value):
            # Stored by JSONField as JSON text: kept as it is unless a key might name a secret.
            if type(value) is not str or _may_name_secret(value):
                return generic(value)
            return value
        return json_text
    if isinstance(field, pw.DateTimeField):
        def moment(value):
            if type(value) is str and len(value) >= 19 and value[10] in " T" and (len(value) == 19 or value[19] == "."):
                return '"' + value[:10] + "T" + value[11:19] + 'Z"'  # SQLite's text, naive UTC
            if isinstance(value, dt.datetime):
                return '"' + isoformat(value) + '"'
            return generic(value)
        return moment
    if _is_integer(field):
        return lambda value: str(value) if type(value) is int else generic(value)
    if isinstance(field, pw.FloatField):
        return lambda value: repr(value) if type(value) is float and math.isfinite(value) else generic(value)
    if isinstance(field, pw.CharField | pw.TextField):
        return lambda value: encode_basestring(value) if type(value) is str else generic(value)
    return generic


def _is_integer(field: pw.Field) -> bool:
    return isinstance(field, pw.IntegerField) or (isinstance(field, pw.ForeignKeyField)
                                                  and isinstance(field.rel_field, pw.IntegerField))


def _fast_path(field: pw.Field, redacted: bool) -> tuple[frozenset, Callable[[Any], str] | None]:
    """The types the driver returns for ``field``'s values that a builtin turns into JSON text, and that
    builtin (``str`` of an int, ``repr`` of a finite float, ``encode_basestring`` of text): a column of
    a batch holding only those (and NULL) is converted by ``map`` in C, without a Python call a value."""
    if redacted or isinstance(field, pw.BooleanField | JSONField | pw.DateTimeField):
        return frozenset(), None
    if _is_integer(field):
        return frozenset({int}), str
    if isinstance(field, pw.FloatField):
        return frozenset({float}), repr
    if isinstance(field, pw.CharField | pw.TextField):
        return frozenset({str}), encode_basestring
    return frozenset(), None


def _column_encoder(field: pw.Field, redacted: bool) -> Callable[[Sequence[Any]], list[str] | map]:
    """The function turning one column of a batch (the driver's values, NULL included) into JSON texts."""
    convert = _encoder(field, redacted)
    plain_types, builtin = _fast_path(field, redacted)
    with_null = plain_types | {type(None)}
    stored_json = isinstance(field, JSONField) and not redacted
    moments = isinstance(field, pw.DateTimeField) and not redacted

    def encode(column: Sequence[Any]) -> list[str] | map:
        if moments:  # SQLite's text of a naive UTC time, as ``convert`` writes it, without a call a value
            return ["null" if value is None else
                    '"' + value[:10] + "T" + value[11:19] + 'Z"'
                    if type(value) is str and len(value) >= 19 and value[10] in " T"
                    and (len(value) == 19 or value[19] == ".") else convert(value) for value in column]
        if builtin is not None:
            found = set(map(type, column))
            if found <= plain_types and (builtin is not repr or all(map(math.isfinite, column))):
                return map(builtin, column)
            if found <= with_null and (builtin is not repr or all(math.isfinite(value) for value in column
                                                                  if value is not None)):
                return ["null" if value is None else builtin(value) for value in column]
        elif stored_json and set(map(type, column)) <= _TEXT_OR_NULL \
                and not _may_name_secret("\n".join(filter(None, column))):
            return ["null" if value is None else value for value in column]  # JSON text no key of which is secret
        return ["null" if value is None else convert(value) for value in column]

    return encode


_TEXT_OR_NULL = frozenset({str, type(None)})


def batch_encoder(fields: Sequence[pw.Field], redacted: Sequence[str]) -> Callable[[Sequence[Sequence[Any]]], str]:
    """The function turning a batch of rows (values of ``fields`` as the driver returns them) into their
    JSON lines (``{"column": value, …}`` and a newline each), with the columns ``redacted`` redacted.

    It works a column at a time (each column's values become JSON text together, most of them through
    one builtin mapped over the column), then joins the batch's pieces in one ``str.join``: each
    column's key and text in turn, row after row (``zip`` with the keys repeated), so a row costs no
    Python call and no formatting of its own.
    """
    keys = [("{" if index == 0 else ",") + encode_basestring(field.column_name) + ":"
            for index, field in enumerate(fields)]
    columns = [(itertools.repeat(key), _column_encoder(field, field.column_name in redacted))
               for key, field in zip(keys, fields, strict=True)]
    end = itertools.repeat("}\n")

    def encode(rows: Sequence[Sequence[Any]]) -> str:
        if not rows:
            return ""
        pieces = []
        for (key, convert), column in zip(columns, zip(*rows, strict=True), strict=True):
            pieces += (key, convert(column))
        pieces.append(end)
        # zip stops with the rows' texts (the keys repeat forever): not strict, on purpose
        return "".join(itertools.chain.from_iterable(zip(*pieces, strict=False)))

    return encode
