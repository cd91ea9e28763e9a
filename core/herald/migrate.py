"""Schema creation and upgrades (``herald init-db``), with peewee's migration runner.

Migrations live in ``herald/migrations/`` as numbered scripts; applying them is idempotent, so
``herald init-db`` is safe to run any number of times. A new model field needs a new migration
(``python -m playhouse.migrations <db-url> generate NAME herald.models:MODELS -d core/herald/migrations``);
the test suite fails when the models and the migrated schema differ.
"""

from __future__ import annotations

import logging
from pathlib import Path

import peewee as pw
from playhouse.migrations import Runner

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HISTORY_TABLE = "herald_schema_migration"


def runner(database: pw.Database) -> Runner:
    """The migration runner for ``database``."""
    return Runner(database, directory=str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)


def upgrade(database: pw.Database) -> list[str]:
    """Apply every pending migration; returns the names applied (empty when up to date)."""
    logging.getLogger("peewee.migrations").setLevel(logging.WARNING)
    with database.connection_context():
        return runner(database).up()


def pending(database: pw.Database) -> list[str]:
    """Names of migrations not yet applied."""
    with database.connection_context():
        return [m.name for m in runner(database).status() if not m.applied]
