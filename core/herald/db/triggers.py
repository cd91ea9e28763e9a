"""The database triggers that exist, and the names of those a module installs.

Derived data (:mod:`herald.derived`) is kept by triggers, and a trigger can go missing without an
error: SQLite drops a table's triggers when a migration rebuilds the table by copying it, and a
restore or a bulk load may leave them out. These two functions let the owner of each family say
which triggers it needs (read from the very statements it installs, so the list cannot drift from
them) and let the registry see which of them are there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import peewee as pw

_CREATE_TRIGGER = re.compile(r"\bCREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)


def created(statements: Iterable[str]) -> tuple[str, ...]:
    """The names of the triggers ``statements`` (DDL) create, in their order."""
    return tuple(match.group(1) for statement in statements for match in _CREATE_TRIGGER.finditer(statement))


def existing(database: pw.Database) -> set[str]:
    """The names of the triggers defined in ``database`` (PostgreSQL: on the tables its search path
    sees; internal triggers, such as those of foreign keys, left out)."""
    if isinstance(database, pw.PostgresqlDatabase):
        query = ("SELECT t.tgname FROM pg_trigger t WHERE NOT t.tgisinternal "
                 "AND pg_catalog.pg_table_is_visible(t.tgrelid)")
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return {row[0] for row in database.execute_sql(query).fetchall()}
