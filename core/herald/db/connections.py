"""Pooled databases that never hand out again a connection a database episode has spoiled.

peewee's pool keeps a connection until its ``stale_timeout`` (five minutes). An SQLite connection
opened while the database files could not be written is opened read-only, silently, and stays
read-only for its whole life: after an operator's ``chmod``, a full disk or a remount, every write
on it answered 503 for five minutes after the files were writable again. A connection on which a
statement fails with a read-only, I/O or cannot-open error (see :func:`herald.db.availability.spoils_connection`)
is therefore marked, and the pool closes it instead of handing it out again: the next request or
job opens a fresh one, which sees the database as it is now.

The mark is checked when a connection is taken from the pool (it cannot be closed where the error
is raised: it may be inside a transaction that still has to roll back). PostgreSQL's pool already
drops a connection the server closed, so only its statement path is marked the same way.
"""

from __future__ import annotations

import logging
import threading

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from . import availability

log = logging.getLogger("herald.db.connections")


class DiscardsSpoiledConnections:
    """Mixin for a peewee pooled database: a connection a statement found spoiled is never reused."""

    def __init__(self, *args, **kwargs):
        self._spoiled: dict[int, object] = {}  # id(connection) -> connection (driver connections take no weakrefs)
        self._spoiled_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _mark_if_spoiled(self, exc: BaseException) -> None:
        if not availability.spoils_connection(exc) or self.is_closed():
            return
        connection = self.connection()
        with self._spoiled_lock:
            self._spoiled[id(connection)] = connection
        log.warning("database connection discarded after %s: the next use opens a fresh one", exc)

    def _take_spoiled(self, connection) -> bool:
        with self._spoiled_lock:
            if self._spoiled.get(id(connection)) is connection:
                del self._spoiled[id(connection)]
                return True
        return False

    def connect(self, reuse_if_open: bool = False) -> bool:
        """peewee's ``connect``, closing (not reusing) pooled connections that were marked spoiled."""
        while True:
            opened = super().connect(reuse_if_open)
            if not opened or not self._take_spoiled(self.connection()):
                return opened
            self.manual_close()  # closes it for good instead of returning it to the pool

    def execute_sql(self, sql, params=None):
        """peewee's ``execute_sql``; a statement that finds the connection spoiled marks it."""
        try:
            return super().execute_sql(sql, params)
        except pw.DatabaseError as exc:
            self._mark_if_spoiled(exc)
            raise

    def begin(self, *args, **kwargs):
        """peewee's ``begin``; a ``BEGIN`` that finds the connection spoiled marks it."""
        try:
            return super().begin(*args, **kwargs)
        except pw.DatabaseError as exc:
            self._mark_if_spoiled(exc)
            raise

    def commit(self):
        """peewee's ``commit``; a commit that finds the connection spoiled marks it."""
        try:
            return super().commit()
        except pw.DatabaseError as exc:
            self._mark_if_spoiled(exc)
            raise


class HeraldSqliteDatabase(DiscardsSpoiledConnections, PooledSqliteDatabase):
    """peewee's pooled SQLite database, discarding spoiled connections."""


class HeraldPostgresqlDatabase(DiscardsSpoiledConnections, PooledPostgresqlDatabase):
    """peewee's pooled PostgreSQL database, discarding spoiled connections."""
