"""The database triggers that exist, the names of those some DDL creates, and a set of triggers to
install and drop.

Derived data (:mod:`herald.derived`) is kept by triggers, and a trigger can go missing without an
error: SQLite drops a table's triggers when a migration rebuilds the table by copying it, and a
restore or a bulk load may leave them out. The owner of each family says which triggers it needs
(read from the very statements it installs, so the list cannot drift from them) and the registry
sees which of them are there.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

import peewee as pw

_CREATE_TRIGGER = re.compile(r"\bCREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)
_TRIGGER_ON = re.compile(r"\bCREATE\s+TRIGGER\s+(\w+)\s.*?\bON\s+(\w+)", re.IGNORECASE | re.DOTALL)
_CREATE_FUNCTION = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(\w+)\s*\(", re.IGNORECASE)


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


@dataclasses.dataclass(frozen=True)
class Triggers:
    """The DDL of a family's triggers on each backend (PostgreSQL's with the functions they execute),
    installed and dropped as a whole."""

    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, database: pw.Database) -> tuple[str, ...]:
        """The DDL for ``database``'s backend."""
        return self.postgres if isinstance(database, pw.PostgresqlDatabase) else self.sqlite

    def names(self, database: pw.Database) -> tuple[str, ...]:
        """The names of the triggers on ``database``'s backend."""
        return created(self.statements(database))

    def install(self, database: pw.Database) -> None:
        """Create (or re-create) the triggers."""
        self.uninstall(database)
        for statement in self.statements(database):
            database.execute_sql(statement)

    def uninstall(self, database: pw.Database) -> None:
        """Drop the triggers (and PostgreSQL's functions), those that exist."""
        statements = self.statements(database)
        if isinstance(database, pw.PostgresqlDatabase):
            for statement in statements:
                for function in _CREATE_FUNCTION.findall(statement):
                    database.execute_sql(f"DROP FUNCTION IF EXISTS {function}() CASCADE")
            for statement in statements:
                for name, table in _TRIGGER_ON.findall(statement):
                    database.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            for name in created(statements):
                database.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
