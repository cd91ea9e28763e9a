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

RETRY_AFTER_SECONDS = 5

# SQLite's primary result codes (the low byte of the extended code) for a database that cannot be
# used now: BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL. Not CORRUPT: retrying cannot help.
SQLITE_UNAVAILABLE = frozenset({5, 6, 8, 10, 13, 14, 15})


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (as peewee raises it) says the database cannot be used now, rather than a bug."""
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
