"""Workers announce themselves with a heartbeat Herald owns, so ``/health`` counts the workers alive now.

RQ's own registration misled ``/health`` both ways: a worker killed with SIGKILL stays registered
until its key expires (about 480 s), and a Redis ``FLUSHALL`` erases a running worker's
registration, which RQ never writes again. Each ``herald worker`` therefore runs a :class:`Heartbeat`:
a daemon thread that writes the key ``herald:worker-heartbeat:<worker name>`` every ``interval``
seconds (``HERALD_WORKER_HEARTBEAT_SECONDS``, default 5) with the queues it consumes and the time.
The key is written whole each time (``SET``, not a refresh), so a flushed key is back within one
interval; it expires ``STALE_BEATS`` intervals after the last beat, and :func:`live_workers` also
ignores a stamp older than that, so a dead worker stops counting within three intervals (15 s).
No RQ method is replaced: the thread runs beside RQ's work loop, in the worker's main process, and
dies with it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time

import redis

log = logging.getLogger("herald.work.heartbeat")

KEY_PREFIX = "herald:worker-heartbeat:"
DEFAULT_INTERVAL_SECONDS = 5.0
# A worker whose last beat is older than this many intervals is dead (or hung without its thread).
STALE_BEATS = 3


def key(worker_name: str) -> str:
    """The Redis key of ``worker_name``'s heartbeat."""
    return KEY_PREFIX + worker_name


class Heartbeat:
    """The heartbeat of one worker; :meth:`beat` writes it once, :meth:`start` every ``interval`` seconds."""

    def __init__(self, connection: redis.Redis, worker_name: str, queues, interval: float = DEFAULT_INTERVAL_SECONDS):
        self.connection = connection
        self.worker_name = worker_name
        self.queues = list(queues)
        self.interval = interval
        self.stale_after = STALE_BEATS * interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self, now: float | None = None) -> None:
        """Write the heartbeat now (``now``: seconds since the epoch). A Redis error skips this beat."""
        value = {"queues": self.queues, "at": time.time() if now is None else now, "stale_after": self.stale_after,
                 "pid": os.getpid(), "host": socket.gethostname()}
        try:
            self.connection.set(key(self.worker_name), json.dumps(value), ex=max(1, math.ceil(self.stale_after)))
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
            self.connection.delete(key(self.worker_name))
        except redis.RedisError as exc:
            log.warning("worker heartbeat not removed (it expires by itself): %s", exc)

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def live_workers(connection: redis.Redis, now: float | None = None) -> dict[str, list[str]]:
    """``{worker name: queues}`` of the workers whose last heartbeat is recent enough to count."""
    now = time.time() if now is None else now
    keys = sorted(connection.scan_iter(match=KEY_PREFIX + "*", count=500))
    if not keys:
        return {}
    alive = {}
    for name, raw in zip(keys, connection.mget(keys), strict=True):
        if raw is None:
            continue  # expired between the scan and the read
        try:
            value = json.loads(raw)
            fresh = now - float(value["at"]) <= float(value["stale_after"])
        except (ValueError, KeyError, TypeError):
            continue  # not a heartbeat Herald wrote
        if fresh:
            alive[name.decode().removeprefix(KEY_PREFIX)] = list(value.get("queues", []))
    return alive
