"""Driving workers and time directly in tests: no sleeping while waiting for work."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

from rq.registry import ScheduledJobRegistry

from herald import work as kernel
from herald.clock import epoch_seconds, system_now
from herald.db.models import db
from herald.runtime import installed_for_jobs
from herald.testing import CountingWorker
from herald.testing import release_due as kit_release_due
from herald.work import heartbeat
from herald.work.queue import CORE_QUEUES, get_queue, make_worker
from herald_webhooks.jobs import QUEUE as WEBHOOKS_QUEUE

# Every queue of the plugins installed here: the core's and the webhooks plugin's (test_worker_layout
# checks that herald.work.queue.queue_names says the same).
QUEUES = CORE_QUEUES + (WEBHOOKS_QUEUE,)


@contextlib.contextmanager
def sql_sent():
    """Yields a list that collects every SQL statement sent to the database inside the block."""
    database, sent = db.obj, []
    execute_sql = database.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        sent.append(sql)
        return execute_sql(sql, params, *args, **kwargs)

    database.execute_sql = counting
    try:
        yield sent
    finally:
        del database.execute_sql


def claim(kind: str, row_id):
    """Claim row ``row_id`` of work kind ``kind`` as a worker would, at the test's time: ``(mode, row)``
    or None (to play a worker that dies holding it)."""
    runtime = installed_for_jobs()
    return kernel.claim(kernel.kind(runtime, kind), row_id, runtime.clock.now())


def perform(kind: str, row_id, step: int) -> str:
    """Run the job of row ``row_id``'s ``step`` of work kind ``kind`` here, as a worker would."""
    return kernel.perform(installed_for_jobs(), kind, row_id, step)


def work(redis_client, max_jobs: int = 1000) -> int:
    """Run queued jobs in this process until the queues are empty; returns how many ran."""
    worker = make_worker(redis_client, QUEUES, worker_class=CountingWorker)
    worker.work(burst=True, max_jobs=max_jobs, with_scheduler=False, logging_level="WARNING")
    return worker.performed


def release_due(redis_client, timestamp: float) -> int:
    """What RQ's scheduler does each second, at the test's time ``timestamp`` (seconds since the epoch),
    on every queue here (herald.testing's :func:`~herald.testing.release_due`), after what ``herald
    cron`` did meanwhile at the runtime's time: hand work entering the lookahead to RQ
    (:func:`herald.work.hand_over`). Returns how many moved."""
    runtime = installed_for_jobs()
    if runtime is not None:
        kernel.hand_over(runtime)
    return kit_release_due(redis_client, QUEUES, timestamp)


def advance(redis_client, seconds: float) -> None:
    """Move the test's clock ``seconds`` forward (the clock of the runtime its in-process workers use),
    then release the scheduled jobs that became due by it."""
    clock = installed_for_jobs().clock
    clock.advance(seconds)
    release_due(redis_client, clock.timestamp())


def catch_up_with_real_time() -> None:
    """Set the test's clock to the real time. RQ stamps the times it keeps itself (a job's start) with
    the real clock, while the test's clock stands still: a test comparing the two moves its clock
    from the real time, or a slow machine makes a job look started after the clock's "now"."""
    installed_for_jobs().clock.set(system_now())


class OffsetClock:
    """The system's clock moved forward by ``offset`` seconds: the clock of tests whose workers are
    other processes (``real_time``). A worker started later is handed the offset
    (``clocked_worker.py``), so time the test moves passes for it too, and no stored time is rewritten."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset

    def now(self) -> dt.datetime:
        """The system's time plus the offset (naive UTC)."""
        return system_now() + dt.timedelta(seconds=self.offset)

    def timestamp(self) -> float:
        """:meth:`now` in seconds since the epoch."""
        return epoch_seconds(self.now())

    def advance(self, seconds: float) -> dt.datetime:
        """Move the clock ``seconds`` forward; returns the new time."""
        self.offset += seconds
        return self.now()


def scheduled_count(redis_client) -> int:
    """How many jobs wait in the scheduled registries."""
    return sum(len(ScheduledJobRegistry(queue=get_queue(redis_client, name))) for name in QUEUES)


def past_last_heartbeat(clock, redis_client, seconds: float) -> None:
    """Set the test's ``clock`` ``seconds`` past the latest heartbeat any worker wrote (a worker in
    another process stamps its beats by the system's time)."""
    latest = max(json.loads(raw)["at"] for raw in redis_client.hvals(heartbeat.REGISTRY))
    clock.set(dt.datetime.fromtimestamp(latest + seconds, dt.UTC))
