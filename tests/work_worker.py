"""A worker process for the ``chore`` work kind: ``python work_worker.py DATABASE_URL REDIS_URL MARKER``.

Runs queued jobs once (burst) in this process with the ``chore`` plugin registered; its handler
creates MARKER after doing a chore and then hangs, for the crash test to SIGKILL it there.
"""

from __future__ import annotations

import sys

import redis
from work_kind import ChorePlugin, StandInRuntime, SystemClock

from drive import QUEUES
from herald.db.models import bind_database
from herald.plugins import PluginRegistry, new_plugin_manager
from herald.runtime import install_for_jobs
from herald.work.queue import make_worker
from herald.work.workers import HeraldSimpleWorker


def main(database_url: str, redis_url: str, marker: str) -> None:
    """Run the burst."""
    bind_database(database_url)
    connection = redis.Redis.from_url(redis_url)
    pm = new_plugin_manager()
    pm.register(ChorePlugin(block=marker), name="chores")
    install_for_jobs(StandInRuntime(None, pm, PluginRegistry(pm), connection, SystemClock()))
    make_worker(connection, QUEUES, worker_class=HeraldSimpleWorker).work(
        burst=True, with_scheduler=False, logging_level="WARNING")


if __name__ == "__main__":
    main(*sys.argv[1:])
