"""Machines announce themselves in Redis, so that a SQLite deployment refuses to run on a second one.

SQLite and Herald's write lock beside it (``herald.db-writelock``) serialise writers of one machine
only, and the local media directory is one machine's disk: two machines sharing one Redis but each
with its own SQLite file would hand each other's tasks to workers that cannot see their rows.
Every ``herald serve``, ``herald worker`` and ``herald cron`` therefore writes its host's entry in
one Redis hash, ``herald:hosts`` (host name -> the database kind it uses and the time by its clock),
at start and every ``INTERVAL_SECONDS`` from a daemon thread. Before that, :func:`announce` refuses
to start (:class:`SecondHost`, one line saying what to do) when another host's entry is fresh (younger
than ``STALE_AFTER_SECONDS``) and either side uses SQLite. Several machines on PostgreSQL share the
hash peacefully.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading

import redis

from ..clock import Clock, SystemClock

log = logging.getLogger("herald.work.hosts")

REGISTRY = "herald:hosts"  # a hash: host name -> its last announcement (JSON)
INTERVAL_SECONDS = 10.0
STALE_AFTER_SECONDS = 3 * INTERVAL_SECONDS  # a host silent this long has stopped (or lost Redis)


class SecondHost(Exception):
    """Another machine uses this deployment's Redis while one of the two runs on SQLite."""


def database_kind(database_url: str) -> str:
    """``sqlite`` or ``postgresql``: the kind of database a URL names."""
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


def live_hosts(connection: redis.Redis, now: float) -> dict[str, dict]:
    """``{host name: announcement}`` of the hosts whose last announcement is fresh at ``now``."""
    hosts = {}
    for name, raw in connection.hgetall(REGISTRY).items():
        try:
            entry = json.loads(raw)
            fresh = now - float(entry["at"]) <= STALE_AFTER_SECONDS
        except (ValueError, KeyError, TypeError):
            continue  # not Herald's
        if fresh:
            hosts[name.decode()] = entry
    return hosts


def refusal(connection: redis.Redis, host: str, database: str, now: float) -> str | None:
    """Why ``host`` must not start with a ``database`` (kind) deployment now, or None."""
    for other, entry in sorted(live_hosts(connection, now).items()):
        if other == host:
            continue
        if database == "sqlite" or entry.get("database") == "sqlite":
            side = "this machine's database is SQLite" if database == "sqlite" else f"{other} runs on SQLite"
            return (f"Refusing to start: host {other} uses the same Redis ({int(now - float(entry['at']))} s ago) and "
                    f"{side}, which serves one machine only; put every machine on one PostgreSQL "
                    "(HERALD_DATABASE_URL) and S3 store (HERALD_MEDIA_STORE), or give each deployment its own Redis.")
    return None


class HostBeacon:
    """This host's entry in ``herald:hosts``: :meth:`start` refuses a second host (see the module), then
    writes the entry now and every ``interval`` seconds from a daemon thread."""

    def __init__(self, connection: redis.Redis, database_url: str, clock: Clock | None = None,
                 host: str | None = None, interval: float = INTERVAL_SECONDS):
        self.connection = connection
        self.database = database_kind(database_url)
        self.clock = clock or SystemClock()
        self.host = host or socket.gethostname()
        self.interval = interval
        self._stopped = threading.Event()

    def announce(self) -> None:
        """Write this host's entry now (a Redis error skips it: /health says Redis is down meanwhile)."""
        value = {"at": self.clock.timestamp(), "database": self.database, "pid": os.getpid()}
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                pipe.hset(REGISTRY, self.host, json.dumps(value))
                pipe.expire(REGISTRY, int(STALE_AFTER_SECONDS * 10))
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("host announcement not written: %s", exc)

    def check(self) -> None:
        """Raise :class:`SecondHost` when this host must not run this deployment now."""
        try:
            problem = refusal(self.connection, self.host, self.database, self.clock.timestamp())
        except redis.RedisError as exc:  # not known now; the beacon announces once Redis is back
            log.warning("other hosts not checked: %s", exc)
            return
        if problem:
            raise SecondHost(problem)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.announce()

    def start(self) -> HostBeacon:
        """Check (raising :class:`SecondHost`), announce now, then every ``interval`` seconds."""
        self.check()
        self.announce()
        threading.Thread(target=self._run, name="host beacon", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop announcing (the entry goes stale by itself: other processes of this host may still run)."""
        self._stopped.set()

    def __enter__(self) -> HostBeacon:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()  # a command run in-process (tests, ``herald worker --burst``) leaves no thread announcing
