"""The dispatched mark of events: written at once, or deferred and written for many events together.

An event row without a dispatched mark is one the reconciler dispatches again once it is older than
its grace period (:data:`herald.chores.EVENT_DISPATCH_GRACE_SECONDS`), so the mark must be written
after ``on_event`` has run. Written at once, it costs a write transaction of its own; on the action
endpoint that was a second turn at SQLite's single write lock for every request. A web request
therefore defers it (:func:`defer`): this process writes the marks it owes together, in one
transaction, when :data:`BATCH` of them are waiting or ``within`` seconds after the first, from a
timer thread, and at exit. A process killed before that leaves its events unmarked, and the
reconciler dispatches them again: listeners may hear an event twice, as they always could.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

from ..db.models import Event, db, utcnow, write_transaction
from ..db.prepared_statements import PreparedUpdate

log = logging.getLogger("herald.events")

BATCH = 100  # marks written in one transaction at most; reached, they are written at once
# A publish job marks its event at once: prepared (see herald.db.prepared_statements), one statement per number of ids.
_mark = PreparedUpdate(Event)


def write_now(event_ids: list[int]) -> None:
    """Mark the events dispatched, in a write transaction of their own (or the caller's)."""
    if not event_ids:
        return
    with write_transaction():  # queued with the other writers instead of polling SQLite's lock
        _mark(event_ids, dispatched_at=utcnow())


class PendingMarks:
    """The dispatched marks this process owes, for one database at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self.ids: list[int] = []
        self.database = None  # the database the ids belong to (tests bind a new one per test)
        self.timer: threading.Timer | None = None

    def forget_after_fork(self) -> None:
        """In a forked child: owe nothing (the parent writes its own marks; the timer did not survive)."""
        self._lock = threading.Lock()
        self._clear()

    def defer(self, event_ids: list[int], within: float) -> None:
        """Owe the marks of ``event_ids``, to be written within ``within`` seconds."""
        with self._lock:
            if self.database is not db.obj:  # marks owed to a database no longer in use are dropped
                self._cancel_timer()
                self.ids, self.database = [], db.obj
            self.ids.extend(event_ids)
            full = len(self.ids) >= BATCH
            if not full and self.timer is None:
                self.timer = threading.Timer(within, self.write)
                self.timer.daemon = True
                self.timer.start()
        if full:
            self.write()

    def write(self) -> int:
        """Write every owed mark in one transaction; returns how many were written.

        Safe from any thread: the timer's thread opens a connection of its own and closes it after.
        A failure is logged and the marks are not retried: the reconciler dispatches those events again.
        """
        with self._lock:
            ids, database = self.ids, self.database
            self._cancel_timer()
            self._clear()
        if not ids or database is not db.obj:
            return 0
        opened_here = db.is_closed()
        try:
            if opened_here:
                db.connect()
            write_now(ids)
        except Exception as exc:
            log.warning("could not mark %s events dispatched (%s: %s); the reconciler will dispatch them again",
                        len(ids), type(exc).__name__, exc)
            return 0
        finally:
            if opened_here and not db.is_closed():
                db.close()
        return len(ids)

    def _cancel_timer(self) -> None:
        if self.timer is not None and self.timer is not threading.current_thread():
            self.timer.cancel()
        self.timer = None


pending = PendingMarks()
os.register_at_fork(after_in_child=pending.forget_after_fork)
atexit.register(pending.write)


def defer(event_ids: list[int], within: float) -> None:
    """Owe the dispatched marks of ``event_ids``: written with others, at the latest ``within`` seconds on."""
    pending.defer(event_ids, within)


def write_owed() -> int:
    """Write the dispatched marks this process owes now; returns how many (the reconciler calls this
    first, so it does not dispatch again what this process has just dispatched)."""
    return pending.write()
