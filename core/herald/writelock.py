"""One writer at a time on a SQLite database, handed over by the kernel instead of by polling.

SQLite lets one transaction write at a time. A connection that finds the write lock taken waits in
SQLite's busy handler, which sleeps and retries (1, 2, 5, 10 … 100 ms) rather than waking when the
lock is freed. With gunicorn workers, RQ workers and ``herald cron`` all writing to one file, most
of a contended write's latency was that sleeping: a request that could have gone on after 0.3 ms
slept 1 ms or more. Herald's write transactions therefore first take an exclusive ``flock`` on a
file beside the database (``<database>-writelock``): the kernel wakes the next writer the moment
the previous one commits. SQLite's own lock and ``busy_timeout`` still guard every write; the
``flock`` only orders Herald's own writers so they rarely meet SQLite's busy handler at all.

Each thread of each process opens the lock file itself: ``flock`` locks belong to an open file,
so a descriptor shared by threads, or inherited across ``fork``, would not keep them apart.
"""

from __future__ import annotations

import fcntl
import os
import threading

_local = threading.local()


def lock_path(database_path: str) -> str | None:
    """The lock file for the SQLite database at ``database_path``; ``None`` for an in-memory one."""
    if not database_path or database_path == ":memory:" or "mode=memory" in database_path:
        return None
    return database_path + "-writelock"


def _descriptor(path: str) -> int:
    """This thread's descriptor of the lock file at ``path`` (opened again after a ``fork``)."""
    pid = os.getpid()
    opened = getattr(_local, "opened", None)
    if opened is None or opened[0] != pid:
        opened = _local.opened = (pid, {})  # descriptors inherited from the parent are left alone
    descriptors = opened[1]
    if path not in descriptors:
        # flock needs no write access: a lock file another user created (web and workers run as
        # different users of one group) can still be locked by everyone who can read it. It gets the
        # database file's mode (0600, or 0640 with HERALD_DATABASE_GROUP_READABLE).
        descriptors[path] = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, _mode_of_database(path))
    return descriptors[path]


def _mode_of_database(lock: str) -> int:
    """The permission bits of the database beside the lock file ``lock`` (0600 when it has none yet)."""
    try:
        return os.stat(lock.removesuffix("-writelock")).st_mode & 0o666
    except OSError:
        return 0o600


class SerialisedWrite:
    """A context manager: hold the database's write ``flock``, then run ``transaction`` inside it.

    ``transaction`` is the context manager of the write transaction itself (peewee's
    ``atomic(lock_type="IMMEDIATE")``); the lock is released whether it commits or rolls back.
    """

    def __init__(self, path: str, transaction) -> None:
        self.path = path
        self.transaction = transaction
        self.descriptor: int | None = None

    def __enter__(self):
        self.descriptor = _descriptor(self.path)
        fcntl.flock(self.descriptor, fcntl.LOCK_EX)
        try:
            return self.transaction.__enter__()
        except BaseException:
            fcntl.flock(self.descriptor, fcntl.LOCK_UN)
            raise

    def __exit__(self, *exc_info):
        try:
            return self.transaction.__exit__(*exc_info)
        finally:
            fcntl.flock(self.descriptor, fcntl.LOCK_UN)
