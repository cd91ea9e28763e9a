"""The crash test of the test kit, for any platform plugin: real ``herald worker`` processes publish
the queued posts through the plugin and are SIGKILLed at random points (between any two requests the
platform sees), time passes until their leases run out, the reconciler hands the orphaned tasks to
the plugin's ``reconcile``, and new workers carry on, until every publish task and first comment is
final. A plugin that never posts twice and loses nothing ends with every task ``published`` and each
post on its fake exactly once; the test asserts that on its fake::

    report = publish_through_crashes(calls=lambda: len(fake.calls), seed=20261207, kills=5)
    assert set(report.statuses) == {"published"} and report.kills >= 3

The workers are other processes on the test's database, Redis and clock (the clock stands still
while a worker runs and moves only between rounds), with the plugins' settings the application was
made with (``herald_app_factory(mastodon_timeout=5)``) plus ``env``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from . import chores
from .config import Config
from .db.models import FirstComment, PublishTask, db
from .publishing import first_comments, tasks
from .runtime import installed_for_jobs
from .work.queue import get_queue, queue_names

__all__ = ["CrashReport", "publish_through_crashes", "release_due", "worker_environment"]

CLOCK_VARIABLE = "HERALD_TEST_CLOCK_AT"  # seconds since the epoch: the clock a crash-test worker runs on


@dataclasses.dataclass
class CrashReport:
    """What :func:`publish_through_crashes` did: ``kills`` workers SIGKILLed over ``rounds`` rounds, and
    the final ``statuses`` of every publish task (and ``comment_statuses`` of every first comment)."""

    kills: int
    rounds: int
    statuses: list[str]
    comment_statuses: list[str]


def publish_through_crashes(*, calls: Callable[[], int], env: Mapping[str, str] | None = None, seed: int = 20261207,
                            kills: int = 5, rounds: int = 40, time_passes: Callable[[float], None] | None = None,
                            burst_deadline: float = 60.0) -> CrashReport:
    """Publish every queued task with worker processes killed at random points (see the module).

    ``calls()`` counts the requests the platform's fake has seen: in each of the first ``kills``
    rounds the worker is killed once 1 to 5 more have arrived (chosen by ``seed``), later rounds run
    to the end of their burst. ``env`` adds ``HERALD_*`` variables for the workers; ``time_passes``
    is told the seconds the clock moves between rounds (a fake with a clock of its own follows it).
    Stops when nothing is left to do or after ``rounds`` rounds; the test asserts on the result.
    """
    runtime = installed_for_jobs()
    rng = random.Random(seed)
    environment = worker_environment(runtime.config, env)
    killed = rounds_run = 0
    while rounds_run < rounds and _work_left():
        rounds_run += 1
        kill_after = rng.randint(1, 5) if killed < kills else None
        environment[CLOCK_VARIABLE] = repr(runtime.clock.timestamp())
        killed += _run_worker(environment, calls, kill_after, burst_deadline)
        # Time passes until the next thing falls due: a killed worker's lease runs out, a retry or a check.
        seconds = _seconds_to_next_due(runtime.clock.now())
        runtime.clock.advance(seconds)
        if time_passes is not None:
            time_passes(seconds)
        release_due(runtime.redis, queue_names(runtime), runtime.clock.timestamp())
        chores.reconcile()
    with db.connection_context():
        statuses = [row.status for row in PublishTask.select(PublishTask.status).order_by(PublishTask.id)]
        comments = [row.status for row in FirstComment.select(FirstComment.status).order_by(FirstComment.id)]
    return CrashReport(kills=killed, rounds=rounds_run, statuses=statuses, comment_statuses=comments)


def worker_environment(config: Config, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``herald worker`` process on ``config``: its database, Redis, data
    directory, secret, public URL and plugins, each plugin's setting given in code as its
    ``HERALD_*`` variable, then ``extra``."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("HERALD_")}
    environment.update(config.environment)
    environment.update(HERALD_DATA_DIR=str(config.data_dir), HERALD_DATABASE_URL=config.resolved_database_url,
                       HERALD_REDIS_URL=config.redis_url, HERALD_SECRET_KEY=config.secret_key)
    if config.public_url:
        environment["HERALD_PUBLIC_URL"] = config.public_url
    if config.plugins is not None:
        environment["HERALD_PLUGINS"] = ",".join(config.plugins)
    if config.fetch_allow_private:
        environment["HERALD_FETCH_ALLOW_PRIVATE"] = "1"
    for name, value in config.plugin_settings.items():
        environment[f"HERALD_{name.upper()}"] = str(value)
    environment.update(extra or {})
    return environment


def _work_left() -> bool:
    """Whether a publish task or a first comment is not final yet."""
    with db.connection_context():
        return (PublishTask.select().where(PublishTask.status.not_in(tasks.FINAL)).exists()
                or FirstComment.select().where(FirstComment.status.not_in(first_comments.STATUSES.final)).exists())


def _seconds_to_next_due(now) -> float:
    """Seconds from ``now`` until the earliest lease of an unfinished row runs out or its next step is
    due (at least one second: a row due now moves on in the next round anyway)."""
    moments = []
    with db.connection_context():
        for model, final in ((PublishTask, tasks.FINAL), (FirstComment, first_comments.STATUSES.final)):
            for row in model.select(model.due_at, model.lease_until).where(model.status.not_in(final)):
                moments.append(row.lease_until or row.due_at or now)
    soonest = min(moments, default=now)
    return max((soonest - now).total_seconds() + 1, 1.0)


def release_due(connection: redis.Redis, names, timestamp: float) -> int:
    """What RQ's scheduler does each second, at ``timestamp`` (seconds since the epoch): move the
    scheduled jobs of the queues ``names`` whose time has come to their queues. How many moved."""
    released = 0
    for name in names:
        queue = get_queue(connection, name)
        registry = ScheduledJobRegistry(queue=queue)
        for job_id in registry.get_jobs_to_schedule(timestamp):
            registry.remove(job_id)
            with contextlib.suppress(NoSuchJobError):
                queue.enqueue_job(Job.fetch(job_id, connection=connection, serializer=JSONSerializer))
                released += 1
    return released


def _run_worker(environment: dict[str, str], calls: Callable[[], int], kill_after: int | None,
                deadline: float) -> bool:
    """Run one burst worker; SIGKILL it once ``calls()`` has grown by ``kill_after``. Whether it was killed."""
    target = calls() + kill_after if kill_after else None
    process = subprocess.Popen([sys.executable, "-m", "herald.crash_worker", "--burst"], env=environment,
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    until = time.monotonic() + deadline
    try:
        while process.poll() is None:
            if target is not None and calls() >= target:
                _kill_tree(process)
                return True
            if time.monotonic() > until:
                raise AssertionError(f"a crash-test worker did not finish its burst in {deadline:.0f} s")
            time.sleep(0.002)
        return False
    finally:
        if process.poll() is None:
            _kill_tree(process)


def _kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the worker and everything it started, frozen first so nothing moves between the kills."""
    doomed = [process.pid, *_descendants(process.pid)]
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found
