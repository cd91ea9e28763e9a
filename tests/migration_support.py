"""A database migrated up to a given migration, for the tests of the migrations that follow it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import peewee as pw
import psycopg2
import pytest

from conftest import POSTGRES_URL
from herald.db.migrate import runner
from herald.db.models import open_database


def database_migrated_to(backend: str, tmp_path: Path, migration: str) -> Iterator[pw.Database]:
    """Yield a database (``backend`` "sqlite", or "postgresql": a database of its own, skipped when
    HERALD_TEST_POSTGRES is not set) with the core's migrations applied up to ``migration``; drops it after."""
    admin = name = None
    if backend == "sqlite":
        database = open_database(f"sqlite:///{tmp_path / 'before.db'}")
    else:
        if not POSTGRES_URL:
            pytest.skip("HERALD_TEST_POSTGRES is not set")
        name = f"herald_test_{uuid.uuid4().hex[:10]}"
        admin = psycopg2.connect(POSTGRES_URL)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        database = open_database(urlparse(POSTGRES_URL)._replace(path=f"/{name}").geturl())
    with database.connection_context():
        runner(database).up(migration)
    yield database
    database.close_all()
    if admin is not None:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
