"""SQLite write transactions queue on a flock beside the database (herald.db.writelock)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time

import peewee as pw
import pytest

from herald.db import writelock
from herald.db.models import db, open_database, write_transaction


class Note(pw.Model):
    body = pw.TextField()


@pytest.fixture
def sqlite(tmp_path):
    """A SQLite database bound to ``db`` for this test (whatever database the suite runs on)."""
    previous = db.obj
    database = open_database(f"sqlite:///{tmp_path}/herald.db")
    db.initialize(database)
    Note._meta.set_database(db)
    with db.connection_context():
        db.create_tables([Note])
    try:
        yield str(tmp_path / "herald.db-writelock")
    finally:
        database.close_all()
        db.initialize(previous)


def lock_is_free(path: str) -> bool:
    """Whether a separate open of ``path`` (as another process or thread would) gets the lock now."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)  # closing releases a lock taken here
    return True


def test_a_write_transaction_holds_the_lock_until_it_commits(sqlite):
    with db.connection_context():
        with write_transaction():
            Note.create(body="first")
            assert not lock_is_free(sqlite)
        assert lock_is_free(sqlite)
        assert [note.body for note in Note.select()] == ["first"]


def test_a_failed_write_transaction_rolls_back_and_releases_the_lock(sqlite):
    with db.connection_context():
        with pytest.raises(RuntimeError), write_transaction():
            Note.create(body="lost")
            raise RuntimeError("boom")
        assert lock_is_free(sqlite)
        assert Note.select().count() == 0


def test_a_nested_write_transaction_is_a_savepoint_of_the_outer_one(sqlite):
    with db.connection_context():
        with write_transaction():
            Note.create(body="kept")
            with pytest.raises(RuntimeError), write_transaction():  # must not wait for its own lock
                Note.create(body="undone")
                raise RuntimeError("inner")
            assert not lock_is_free(sqlite)
        assert [note.body for note in Note.select()] == ["kept"]


def test_another_thread_waits_for_the_lock_on_its_own_descriptor(sqlite):
    seen = {}

    def other_thread():
        descriptor = writelock._descriptor(sqlite)
        seen["descriptor"] = descriptor
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen["got_it"] = True
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        except BlockingIOError:
            seen["got_it"] = False

    with db.connection_context(), write_transaction():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert seen["got_it"] is False  # a shared descriptor would have let it in
    assert seen["descriptor"] != writelock._descriptor(sqlite)


def test_a_forked_process_opens_the_lock_file_again(sqlite):
    with db.connection_context(), write_transaction():
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            try:
                fcntl.flock(writelock._descriptor(sqlite), fcntl.LOCK_EX | fcntl.LOCK_NB)
                code = 1  # it shared the parent's lock instead of waiting for it
            except BlockingIOError:
                code = 0
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_lock_file_is_opened_read_only_so_any_user_who_can_read_it_can_lock_it(sqlite):
    with db.connection_context(), write_transaction():  # creates the lock file
        pass
    umask = os.umask(0)
    os.umask(umask)
    # The database's mode (0600: its owner only; 0640 with HERALD_DATABASE_GROUP_READABLE), within the umask.
    assert os.stat(sqlite).st_mode & 0o777 == 0o600 & ~umask
    os.chmod(sqlite, 0o444)  # as a user sees a lock file another user created
    writelock._local.__dict__.clear()  # forget the descriptor opened above: open it again
    with db.connection_context(), write_transaction():
        Note.create(body="written")
        assert not lock_is_free(sqlite)
    descriptor = writelock._descriptor(sqlite)
    assert fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY  # no write access needed


def test_an_in_memory_database_has_no_lock_file():
    assert writelock.lock_path(":memory:") is None
    assert writelock.lock_path("file:x?mode=memory") is None
    assert writelock.lock_path("/var/herald.db") == "/var/herald.db-writelock"


def test_the_busy_timeout_is_peewees_own_timeout_and_reaches_sqlite(tmp_path):
    database = open_database(f"sqlite:///{tmp_path}/herald.db", busy_timeout=0.25)
    try:
        assert database.timeout == 0.25  # what write_transaction gives the write lock
        assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 250
    finally:
        database.close_all()


def test_writers_waiting_in_one_process_start_no_thread_each(sqlite):
    waiting = 16
    before = threading.active_count()
    entered = threading.Barrier(waiting + 1)

    def writer():
        entered.wait()
        with writelock.SerialisedWrite(sqlite, contextlib.nullcontext(), timeout=30):
            pass

    writers = [threading.Thread(target=writer) for _ in range(waiting)]
    with db.connection_context(), write_transaction():
        for thread in writers:
            thread.start()
        entered.wait()
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and threading.active_count() - before <= waiting:
            time.sleep(0.01)  # give every writer the time to reach the lock (and start a helper if it would)
        extra = threading.active_count() - before - waiting
    for thread in writers:
        thread.join()
    assert extra <= 1  # at most the one writer at the head of the process's queue waits in flock
