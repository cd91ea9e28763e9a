"""What the work kernel costs a job: ``--jobs`` no-op jobs of a throwaway work kind (claim, handler
answering ``Outcome.done()``, the outcome recorded) against as many raw RQ no-op jobs
(``json.dumps("bench")``), each side run in this process by Herald's in-process worker
(``HeraldSimpleWorker``, burst), in alternating rounds.

Prints the CPU time per job of each side and the kernel's share of raw RQ's rate. SQLite in a
temporary directory; ``--redis-url`` (default ``redis://127.0.0.1:6379/7``) is flushed.

    .venv/bin/python bench/work_overhead.py [--jobs 500] [--rounds 3] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from herald import chores, work
from herald.db.models import bind_database, db, utcnow, write_transaction
from herald.hookspecs import hookimpl
from herald.plugins import PluginRegistry, new_plugin_manager
from herald.work import Outcome, WorkKind, WorkRow
from herald.work.queue import (
    CORE_QUEUES,  # noqa: E402
    DEFAULT_QUEUE,
    get_queue,
    make_worker,
)
from herald.work.workers import HeraldSimpleWorker
from herald_webhooks.jobs import QUEUE as WEBHOOKS_QUEUE  # noqa: E402

QUEUES = CORE_QUEUES + (WEBHOOKS_QUEUE,)  # the core's queues and the webhooks plugin's


class Noop(WorkRow):
    """A row of work that does nothing."""

    class Meta:
        table_name = "bench_noop"


NOOP = WorkKind(name="noop", model=Noop, run=lambda runtime, row, mode: Outcome.done())


class NoopPlugin:
    """Registers the no-op kind."""

    @hookimpl
    def register_work_kinds(self, register):
        """The no-op kind."""
        register(NOOP)


class Clock:
    """The real time."""

    def now(self):
        """The current time (naive UTC)."""
        return utcnow()


@dataclasses.dataclass
class Runtime:
    """What the kernel needs of the runtime."""

    config: Any
    pm: Any
    registry: Any
    redis: Any
    clock: Any


def run_burst(connection) -> tuple[float, float]:
    """Run every queued job; (CPU seconds, wall seconds)."""
    worker = make_worker(connection, QUEUES, worker_class=HeraldSimpleWorker)
    cpu, wall = time.process_time(), time.perf_counter()
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()
    connection = redis.Redis.from_url(args.redis_url)
    connection.flushdb()
    database = bind_database(f"sqlite:///{Path(tempfile.mkdtemp(prefix='herald-work-')) / 'herald.db'}")
    database.create_tables([Noop])
    pm = new_plugin_manager()
    pm.register(NoopPlugin(), name="noop")
    runtime = Runtime(None, pm, PluginRegistry(pm), connection, Clock())
    chores.install(runtime)
    queue = get_queue(connection, DEFAULT_QUEUE)
    figures: dict[str, list[tuple[float, float]]] = {"raw rq": [], "kernel": []}
    try:
        for number in range(args.rounds):
            for side in (("raw rq", "kernel") if number % 2 == 0 else ("kernel", "raw rq")):
                if side == "raw rq":
                    for _ in range(args.jobs):
                        queue.enqueue("json.dumps", "bench", result_ttl=600)
                else:
                    with db.connection_context():
                        with write_transaction():
                            rows = [Noop.create(status="queued") for _ in range(args.jobs)]
                        for row in rows:
                            work.enqueue(runtime, NOOP, row)
                figures[side].append(run_burst(connection))
            with db.connection_context():
                assert Noop.select().where(Noop.status != "done").count() == 0
    finally:
        connection.flushdb()
    for side, runs in figures.items():
        cpu = statistics.median(run[0] for run in runs) / args.jobs * 1e3
        rate = statistics.median(args.jobs / run[1] for run in runs)
        print(f"{side:<7} {cpu:6.2f} ms CPU per job, {rate:7.1f} jobs/s (median of {args.rounds} rounds)")
    raw = statistics.median(args.jobs / run[1] for run in figures["raw rq"])
    kernel = statistics.median(args.jobs / run[1] for run in figures["kernel"])
    print(f"kernel / raw rq: {kernel / raw:.2f}")


if __name__ == "__main__":
    main()
