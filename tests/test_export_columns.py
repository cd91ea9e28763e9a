"""The exports' column-at-a-time conversions against the rules a value at a time.

The GDPR archive turns a batch of rows into JSON lines a column at a time, and the posts CSV makes
its cells safe a column at a time; both take shortcuts when a whole column allows them (only ints,
only text with no secret word, no formula). Random batches mixing what allows a shortcut with what
does not (NULL, negative numbers, infinities, text starting a formula, JSON naming a secret, times
that are not SQLite's text) must come out exactly as the rules applied to each value give them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random

import peewee as pw
import pytest

from herald.db.models import JSONField
from herald.exports.csvsafe import csv_batches, csv_chunk, csv_lines, safe_cell, safe_texts
from herald.exports.rows import REDACTED, batch_encoder, json_value, redact_json


class Sample(pw.Model):
    number = pw.IntegerField(null=True)
    ratio = pw.FloatField(null=True)
    label = pw.CharField(null=True)
    flag = pw.BooleanField(null=True)
    settings = JSONField(null=True)
    at = pw.DateTimeField(null=True)
    secret_token = pw.CharField(null=True)


FIELDS = list(Sample._meta.sorted_fields)
REDACTED_COLUMNS = ["secret_token"]


def driver_value(rng: random.Random, field: pw.Field):
    """A value as SQLite's or PostgreSQL's driver may return it for ``field`` (NULL a fifth of the time)."""
    if rng.random() < 0.2:
        return None
    if isinstance(field, pw.BooleanField):
        return rng.choice([0, 1, True, False])
    if isinstance(field, pw.IntegerField):
        return rng.choice([rng.randint(-5, 10**12), 0, "42"])
    if isinstance(field, pw.FloatField):
        return rng.choice([rng.uniform(-1e6, 1e6), 0.1 + 0.2, math.inf, -0.0, 3])
    if isinstance(field, JSONField):
        return rng.choice(['{"a": 1}', "[]", '{"api_key": "k", "nested": {"Token": "t"}}', '{"password": null}',
                           '["Keyword"]', '{"b": [1, 2.5, "x"]}'])
    if isinstance(field, pw.DateTimeField):
        return rng.choice(["2026-06-01 09:00:00", "2026-06-01 09:00:00.123456", "2026-06-01T09:00:00",
                           "2026-06-01 09:00:00+02:00", dt.datetime(2026, 6, 1, 9, 0, 0, 5)])
    return rng.choice(["plain", 'quote " and \\ backslash', "émoji 🎉", "\u2028line", "", "=1+1"])


def expected_line(values) -> dict:
    """The row's JSON object as the archive's rules give it, a value at a time."""
    line = {}
    for field, value in zip(FIELDS, values, strict=True):
        if value is None:
            line[field.column_name] = None
        elif field.column_name in REDACTED_COLUMNS:
            line[field.column_name] = REDACTED
        else:
            line[field.column_name] = json_value(redact_json(field.python_value(value)))
    return line


@pytest.mark.parametrize("seed", range(20))
def test_a_batch_of_json_lines_is_each_row_by_the_rules(seed):
    rng = random.Random(seed)
    encode = batch_encoder(FIELDS, REDACTED_COLUMNS)
    rows = [tuple(driver_value(rng, field) for field in FIELDS) for _ in range(rng.randint(1, 40))]
    if seed % 2:  # columns a shortcut takes whole: every value an int, text or NULL
        rows = [(index, None, f"label {index}", *row[3:]) for index, row in enumerate(rows)]
    text = encode(rows)
    assert text.endswith("\n") and text.count("\n") == len(rows)
    for line, row in zip(text.split("\n")[:-1], rows, strict=True):  # not splitlines: U+2028 stays raw
        parsed = json.loads(line)
        assert list(parsed) == [field.column_name for field in FIELDS]
        expected = expected_line(row)
        for column in parsed:  # NaN is not equal to itself: compared as text
            assert json.dumps(parsed[column], sort_keys=True) == json.dumps(expected[column], sort_keys=True), column
    assert encode([]) == ""


def one_cell(value):
    """The per-cell rule: None empty, whole numbers of 0 or more as they are, anything else made safe."""
    return value if value is None or (type(value) is int and value >= 0) else safe_cell(value)


@pytest.mark.parametrize("seed", range(20))
def test_a_column_of_safe_texts_is_each_cell_made_safe_and_quoted(seed):
    rng = random.Random(seed)
    kinds = [lambda: rng.randint(0, 10**9), lambda: rng.randint(-3, 3), lambda: rng.uniform(-10, 10),
             lambda: rng.choice(["text", "-minus", "=formula", "@at", "\ttab", "", "plain, comma", 'q"', "a\nb"]),
             lambda: True]
    for _ in range(10):
        pick = rng.sample(kinds, rng.randint(1, 2))
        column = [None if rng.random() < 0.2 else rng.choice(pick)() for _ in range(rng.randint(1, 30))]
        assert list(safe_texts(column)) == [written(one_cell(value)) for value in column], column


def written(cell) -> str:
    """The text ``csv.writer`` writes for one cell (in a row of two: a lone empty cell would be quoted)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([cell, ""])
    return buffer.getvalue()[:-3]


def test_csv_batches_write_what_a_row_at_a_time_writes():
    rng = random.Random(7)
    header = ["id", "score", "caption", "=sum"]
    batches = [[(rng.randint(-2, 99), rng.choice([None, -1.5, 2.25, 3]), rng.choice(["a", "-b", None, 'q"uote\n']),
                 rng.choice([0, "+1", None])) for _ in range(rng.randint(1, 9))] for _ in range(5)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(name) for name in header])
    for batch in batches:
        for row in batch:
            writer.writerow([one_cell(value) for value in row])
    assert b"".join(csv_batches(header, [list(zip(*batch, strict=True)) for batch in batches])) == \
        buffer.getvalue().encode()
    assert b"".join(csv_batches(header, [])) == "'=sum".join(["id,score,caption,", "\r\n"]).encode()


TEXTS = ["plain", "", " ", "a,b", 'say "hi"', '"', "line\nbreak", "cr\rhere", "crlf\r\n", "émoji 🎉 ✨", "tab\tin",
         "-minus", "=1+1", "@at", "\ttab", "\rcr", "'quoted'", "\u2028sep", "trailing,", ",", "\n"]


def cell(rng: random.Random):
    """A value as the exports hand them over: NULL, numbers of any sign, text with every character that
    needs quotes or a formula guard, times, booleans."""
    return rng.choice([None, rng.randint(0, 10**9), rng.randint(-9, 9), rng.uniform(-5, 5), 3.0, math.inf, True,
                       dt.datetime(2026, 6, 1, 9, 0), rng.choice(TEXTS), rng.choice(TEXTS) + rng.choice(TEXTS)])


@pytest.mark.parametrize("seed", range(30))
def test_a_batch_is_written_byte_for_byte_as_the_csv_module_writes_its_rows(seed):
    rng = random.Random(seed)
    width = rng.choice([1, 1, 2, 3, 16])
    kinds = [rng.sample(range(10), rng.randint(1, 3)) for _ in range(width)]  # a column holds a few kinds
    rows = [tuple(cell(rng) if rng.random() < 0.3 else [None, rng.randint(0, 99), "text", "x,y", "émoji 🎉",
                                                       'q"', "a\nb", 2.5, -1, ""][rng.choice(kinds[index])]
                  for index in range(width)) for _ in range(rng.randint(1, 40))]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([one_cell(value) for value in row] for row in rows)
    assert csv_chunk(list(zip(*rows, strict=True))) == buffer.getvalue().encode()
    header = [rng.choice(TEXTS) for _ in range(width)]
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(name) for name in header])
    assert b"".join(csv_lines(header, [])) == buffer.getvalue().encode()
    csv.writer(buffer).writerows([one_cell(value) for value in row] for row in rows)
    assert b"".join(csv_lines(header, rows, flush_every=7)) == buffer.getvalue().encode()
