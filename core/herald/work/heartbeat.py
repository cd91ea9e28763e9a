"""Workers announce themselves with a heartbeat Herald owns, so ``/health`` counts the workers alive now.

RQ's own registration misled ``/health`` both ways: a worker killed with SIGKILL stays registered
until its key expires (about 480 s), and a Redis ``FLUSHALL`` erases a running worker's
registration, which RQ never writes again. Each ``herald worker`` therefore runs a :class:`Heartbeat`:
a daemon thread that writes the worker's entry of one Redis hash, ``herald:worker-heartbeats``, every
``interval`` seconds (``HERALD_WORKER_HEARTBEAT_SECONDS``, default 5): the queues it consumes and the
time by its clock. The entry is written whole each time, so a flushed hash is back within one
interval. :func:`live_workers` reads the one hash (never a scan of the keyspace, which grows with
RQ's job keys) and counts an entry only while its stamp is younger than ``STALE_BEATS`` intervals,
so a dead worker stops counting within three intervals (15 s); each beat also drops the entries of
workers dead for longer than ``FORGET_AFTER_BEATS`` intervals, and the hash expires with the last
worker. No RQ method is replaced: the thread runs beside RQ's work loop, in the worker's main
process, and dies with it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading

import redis

from ..clock import Clock, SystemClock

log = logging.getLogger("herald.work.heartbeat")

REGISTRY = "herald:worker-heartbeats"  # a hash: worker name -> its last heartbeat (JSON)
DEFAULT_INTERVAL_SECONDS = 5.0
# A worker whose last beat is older than this many intervals is dead (or hung without its thread).
STALE_BEATS = 3
# A dead worker's entry is removed (by the next beat of any worker) this many intervals after its last beat.
FORGET_AFTER_BEATS = 60


class Heartbeat:
    """The heartbeat of one worker; :meth:`beat` writes it once, :meth:`start` every ``interval`` seconds."""

    def __init__(self, connection: redis.Redis, worker_name: str, queues, interval: float = DEFAULT_INTERVAL_SECONDS,
                 clock: Clock | None = None):
        self.connection = connection
        self.worker_name = worker_name
        self.queues = list(queues)
        self.interval = interval
        self.stale_after = STALE_BEATS * interval
        self.clock = clock or SystemClock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Write the heartbeat now, by the heartbeat's clock, and forget workers long dead. A Redis
        error skips this beat."""
        now = self.clock.timestamp()
        value = {"queues": self.queues, "at": now, "stale_after": self.stale_after,
                 "pid": os.getpid(), "host": socket.gethostname()}
        try:
            forgotten = [name for name, entry in _entries(self.connection).items() if name != self.worker_name
                         and now - entry["at"] > FORGET_AFTER_BEATS * entry["stale_after"] / STALE_BEATS]
            with self.connection.pipeline(transaction=False) as pipe:
                pipe.hset(REGISTRY, self.worker_name, json.dumps(value))
                if forgotten:
                    pipe.hdel(REGISTRY, *forgotten)
                pipe.expire(REGISTRY, max(1, math.ceil(self.stale_after)))
                pipe.execute()
        except redis.RedisError as exc:  # the next beat tries again; /health says Redis is down meanwhile
            log.warning("worker heartbeat not written: %s", exc)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.beat()

    def start(self) -> Heartbeat:
        """Beat now, then every ``interval`` seconds from a daemon thread until :meth:`stop`."""
        self.beat()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {self.worker_name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and remove the key: a worker that stops cleanly stops counting at once."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.connection.hdel(REGISTRY, self.worker_name)
        except redis.RedisError as exc:
            log.warning("worker heartbeat not removed (it expires by itself): %s", exc)

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _entries(connection: redis.Redis) -> dict[str, dict]:
    """Every heartbeat in the registry by worker name (entries Herald did not write are skipped)."""
    entries = {}
    for name, raw in connection.hgetall(REGISTRY).items():
        try:
            value = json.loads(raw)
            value["at"], value["stale_after"] = float(value["at"]), float(value["stale_after"])
        except (ValueError, KeyError, TypeError):
            continue
        entries[name.decode()] = value
    return entries


def live_workers(connection: redis.Redis, now: float) -> dict[str, list[str]]:
    """``{worker name: queues}`` of the workers whose last heartbeat is recent enough to count at
    ``now`` (seconds since the epoch, by the caller's clock)."""
    return {name: list(entry.get("queues", [])) for name, entry in _entries(connection).items()
            if now - entry["at"] <= entry["stale_after"]}
