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

A writer waits for the lock no longer than SQLite's busy handler would wait for SQLite's own lock
(``busy_timeout``); then it raises :class:`WriteLockTimeout`, which the API answers as it answers
a database locked past its busy timeout: 503 ``database_unavailable`` with ``Retry-After``. Linux
has no ``flock`` with a time limit, so a contended lock is waited for by a helper thread blocked in
``flock`` (still woken by the kernel the moment the lock is free); a writer that gives up leaves
the descriptor to that thread, which closes it, releasing the lock, if it ever gets it. Writers of
one process queue first on an in-process gate (a ``threading.Lock``, which has a time limit), so
only the one at its head needs that helper thread, however many writers wait.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

import peewee as pw

_local = threading.local()


class WriteLockTimeout(pw.OperationalError):
    """Another writer held the database's write lock longer than the busy timeout."""


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


_gates: tuple[int, dict[str, threading.Lock]] = (0, {})
_gates_guard = threading.Lock()


def _gate(path: str) -> threading.Lock:
    """This process's gate for ``path``: its writers queue on it, so one of them at a time waits in ``flock``.

    Without it every waiting writer needed a helper thread blocked in ``flock`` (64 writers, 63
    threads: bench/writelock_threads.py). A child of ``fork`` gets gates of its own, never a copy
    that another thread of the parent held.
    """
    global _gates
    with _gates_guard:
        if _gates[0] != os.getpid():
            _gates = (os.getpid(), {})
        return _gates[1].setdefault(path, threading.Lock())


def _forget(path: str) -> None:
    """Drop this thread's descriptor of ``path`` (handed to a helper that will close it)."""
    _local.opened[1].pop(path, None)


class _LockWaiter:
    """Blocks in ``flock`` on ``descriptor`` in a daemon thread; the caller waits for it with a time limit."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor = descriptor
        self.guard = threading.Lock()
        self.finished = threading.Event()
        self.abandoned = False
        self.error: OSError | None = None
        threading.Thread(target=self._wait, name="herald write lock", daemon=True).start()

    def _wait(self) -> None:
        try:
            fcntl.flock(self.descriptor, fcntl.LOCK_EX)
        except OSError as exc:
            self.error = exc
        with self.guard:
            if self.abandoned:  # nobody wants it any more: closing the descriptor releases the lock
                os.close(self.descriptor)
                return
            self.finished.set()

    def acquired(self, timeout: float) -> bool:
        """Whether the lock was taken within ``timeout`` seconds; if not, the helper keeps the descriptor."""
        if not self.finished.wait(timeout):
            with self.guard:
                if not self.finished.is_set():
                    self.abandoned = True
                    return False
        if self.error is not None:
            raise self.error
        return True


def acquire(path: str, timeout: float) -> int:
    """Take the write lock of ``path`` within ``timeout`` seconds; returns the descriptor holding it.

    Writers of one process queue on its gate first (a lock that waits with a time limit and no extra
    thread); only the one at its head waits for the ``flock`` other processes hold. :func:`release`
    gives both back. Raises :class:`WriteLockTimeout` when other writers held it all that time.
    """
    deadline = time.monotonic() + timeout
    gate = _gate(path)
    if gate.acquire(timeout=max(timeout, 0)):
        try:
            descriptor = _descriptor(path)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                pass
            if _LockWaiter(descriptor).acquired(max(deadline - time.monotonic(), 0)):
                return descriptor
            _forget(path)
        except BaseException:
            gate.release()
            raise
        gate.release()
    raise WriteLockTimeout(f"database is locked: another writer held {path} for more than {timeout:g} s")


def release(path: str, descriptor: int) -> None:
    """Give back the write lock of ``path`` that :func:`acquire` returned as ``descriptor``."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        _gate(path).release()


class SerialisedWrite:
    """A context manager: hold the database's write ``flock``, then run ``transaction`` inside it.

    ``transaction`` is the context manager of the write transaction itself (peewee's
    ``atomic(lock_type="IMMEDIATE")``); the lock is released whether it commits or rolls back.
    ``timeout`` is how many seconds to wait for the lock (see :func:`acquire`).
    """

    def __init__(self, path: str, transaction, timeout: float) -> None:
        self.path = path
        self.transaction = transaction
        self.timeout = timeout
        self.descriptor: int | None = None

    def __enter__(self):
        self.descriptor = acquire(self.path, self.timeout)
        try:
            return self.transaction.__enter__()
        except BaseException:
            release(self.path, self.descriptor)
            raise

    def __exit__(self, *exc_info):
        try:
            return self.transaction.__exit__(*exc_info)
        finally:
            release(self.path, self.descriptor)
