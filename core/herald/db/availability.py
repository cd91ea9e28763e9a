"""Which database errors mean "the database is unavailable right now", so a request is a 503, not a 500.

A PostgreSQL server that is down, restarting or out of connections, a statement cancelled, a
deadlock, or an SQLite file that is locked past the busy timeout, unreadable or on a full disk:
none is a bug in the request or in Herald, and the same request succeeds once the database is
back. Answering those 500 ``internal_error`` with a traceback per request would bury real bugs in
the log and tell clients nothing; they get 503 ``database_unavailable`` with ``Retry-After``. A
mistake in SQL (also an ``OperationalError`` in SQLite) stays a 500.
"""

from __future__ import annotations

import sqlite3

import peewee as pw

from .writelock import WriteLockTimeout

RETRY_AFTER_SECONDS = 5

# SQLite's primary result codes (the low byte of the extended code) for a database that cannot be
# used now: BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL. Not CORRUPT: retrying cannot help.
SQLITE_UNAVAILABLE = frozenset({5, 6, 8, 10, 13, 14, 15})
# Of those and CORRUPT/NOTADB, the codes after which the connection itself is no use any more: one opened
# while the file could not be written stays read-only for good, one that failed to read or write the
# file may hold a stale view of it. BUSY, LOCKED and FULL leave the connection as good as it was.
SQLITE_SPOILS_CONNECTION = frozenset({8, 10, 11, 14, 26})
# psycopg2's OperationalErrors that end a statement or a transaction but leave the connection usable.
POSTGRES_CONNECTION_KEPT = frozenset({"TransactionRollbackError", "QueryCanceledError"})


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (as peewee raises it) says the database cannot be used now, rather than a bug."""
    if isinstance(exc, WriteLockTimeout):
        return True
    if not isinstance(exc, (pw.OperationalError, pw.InterfaceError)):
        return False
    original = getattr(exc, "orig", None) or exc.__cause__  # peewee keeps the driver's error as ``orig``
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in SQLITE_UNAVAILABLE
    # psycopg2: OperationalError is the server or the connection (down, restarting, too many clients,
    # cancelled, deadlock, serialization failure); InterfaceError a connection already closed. SQL
    # mistakes are ProgrammingError, DataError or IntegrityError, never these.
    return type(original).__module__.startswith("psycopg2")


def spoils_connection(exc: BaseException) -> bool:
    """Whether the connection on which ``exc`` was raised should be closed rather than used again.

    SQLite: a read-only, I/O, cannot-open or corrupt-file error. PostgreSQL: a lost or broken
    connection (not a deadlock or a cancelled statement, after which the connection is fine).
    """
    if isinstance(exc, WriteLockTimeout) or not isinstance(exc, (pw.OperationalError, pw.InterfaceError)):
        return False
    original = getattr(exc, "orig", None) or exc.__cause__
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in SQLITE_SPOILS_CONNECTION
    if not type(original).__module__.startswith("psycopg2"):
        return False
    return not any(kind.__name__ in POSTGRES_CONNECTION_KEPT for kind in type(original).__mro__)
