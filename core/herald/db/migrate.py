"""Schema creation and upgrades (``herald init-db``), with peewee's migration runner.

Migrations live in ``herald/db/migrations/`` as numbered scripts; applying them is idempotent, so
``herald init-db`` is safe to run any number of times. A new model field needs a new migration
(``python -m playhouse.migrations <db-url> generate NAME herald.db.models:MODELS -d core/herald/migrations``);
the test suite fails when the models and the migrated schema differ.

Plugins bring their own migrations through the ``register_migrations`` hook; :func:`upgrade` applies
the core's first, then each plugin's, each set with its own history table.

A table whose row ids name something outside the database (RQ job ids such as
``herald-publish-<id>-<step>``, Redis keys, idempotency keys sent to platforms) must never hand an id
out twice: :func:`never_reuse_ids` is the one way its migration says so.
"""

from __future__ import annotations

from pathlib import Path

import peewee as pw
from playhouse.migrate import SchemaMigrator, SqliteMigrator
from playhouse.migrations import Runner
from playhouse.sqlite_ext import AutoIncrementField

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HISTORY_TABLE = "herald_schema_migration"


def runner(database: pw.Database) -> Runner:
    """The migration runner for ``database``."""
    return Runner(database, directory=str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)


def never_reuse_ids(migrator: SchemaMigrator, *tables: str, undo: bool = False) -> None:
    """Make the ``id`` column of ``tables`` never take a value twice, even after rows are deleted.

    SQLite gives a new row the largest id in use plus one, so deleting the newest rows hands their
    ids out again, and an RQ job, a Redis key or a platform's idempotency key named after a deleted
    row then stands for the new one (RQ keeps a finished job's id for minutes and refuses a new job
    under it). ``AUTOINCREMENT`` makes SQLite keep the largest id ever used instead; the table is
    rebuilt with it (peewee's table copy, foreign keys off, indexes re-created). PostgreSQL's
    sequences never hand out a value twice: nothing to do there. ``undo`` (a migration's ``down``)
    returns the tables to plain ids.
    """
    if isinstance(migrator, SqliteMigrator):
        field = pw.AutoField() if undo else AutoIncrementField()
        migrator.migrate(*(migrator.alter_column_type(table, "id", field) for table in tables))


def has_schema(database: pw.Database) -> bool:
    """Whether the core's migrations were applied to ``database`` at least once (``herald init-db``)."""
    with database.connection_context():
        if HISTORY_TABLE not in database.get_tables():
            return False
        return any(migration.applied for migration in runner(database).status())
