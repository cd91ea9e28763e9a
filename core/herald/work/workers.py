"""Herald's RQ worker classes: RQ's own, minus Redis round trips that change nothing.

RQ refreshes a worker's key (``HSET last_heartbeat``, then ``EXPIRE`` on the worker key and on its
executions key: three round trips) before it waits for a job, again when the job arrives, and again
after the job, each time for the same ``worker_ttl + 60`` seconds. For short jobs that is 9 of the
roughly 20 round trips RQ makes per job. These classes skip a heartbeat when the previous one,
sent less than a second ago, already keeps the key alive at least as long as the new one would.
A heartbeat that must shorten or lengthen the key's life (before a job, RQ sets its own TTL in a
pipeline) is always sent, so the worker key never expires earlier than RQ intends.

RQ also asks Redis whether ``rq suspend`` is in force before every job. A long-running worker
asks at most once a second: a suspension still stops it within a second (it waits for the job in
hand either way). A burst worker keeps RQ's check before every job.

Each worker also makes a Herald runtime available to the jobs it runs
(:func:`herald.runtime.install_for_jobs`): the one given by whoever built it (``herald worker``), else
the one a test fixture installed, else one built from the environment, so that a bare
``rq worker --worker-class herald.work.workers.HeraldSimpleWorker`` works too.
"""

from __future__ import annotations

import time

from rq import SimpleWorker, Worker
from rq.worker import BaseWorker

from ..config import Config
from ..runtime import Runtime, install_for_jobs, installed_for_jobs

# A skipped heartbeat leaves the key's expiry at most this much earlier than RQ asked for.
HEARTBEAT_TOLERANCE_SECONDS = 1.0


class DedupedHeartbeats(BaseWorker):
    """Mixin for an RQ worker class: send a heartbeat only when it moves the worker key's expiry."""

    _heartbeat_expires: float | None = None  # time.monotonic() at which the last sent heartbeat lapses

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        """RQ's heartbeat, skipped when the last one already covers ``timeout`` (see the module)."""
        ttl = timeout or self.worker_ttl + 60
        now = time.monotonic()
        expires = self._heartbeat_expires
        if pipeline is None and expires is not None and now + ttl - HEARTBEAT_TOLERANCE_SECONDS <= expires:
            return
        super().heartbeat(timeout, pipeline)
        # EXPIRE replaces the TTL, so a shorter heartbeat (in a pipeline before a job) shortens it.
        self._heartbeat_expires = now + ttl

    def register_birth(self, *args, **kwargs):
        """RQ's registration; the key's TTL it sets is not tracked, so the next heartbeat is sent."""
        self._heartbeat_expires = None
        return super().register_birth(*args, **kwargs)


# A long-running worker asks whether it is suspended at most this often.
SUSPENSION_CHECK_SECONDS = 1.0


class ThrottledSuspensionCheck(BaseWorker):
    """Mixin for an RQ worker class: outside burst mode, check for ``rq suspend`` at most once a second."""

    _suspension_checked: float | None = None  # time.monotonic() of the last check that found none

    def check_for_suspension(self, burst: bool):
        """RQ's check, skipped when a long-running worker found no suspension less than a second ago."""
        now = time.monotonic()
        if not burst and self._suspension_checked is not None \
                and now - self._suspension_checked < SUSPENSION_CHECK_SECONDS:
            return
        super().check_for_suspension(burst)
        self._suspension_checked = time.monotonic()


class InstallsRuntime(BaseWorker):
    """Mixin for an RQ worker class: install a Herald runtime for the jobs this process runs."""

    def __init__(self, *args, runtime: Runtime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if runtime is None:
            runtime = installed_for_jobs() or Runtime.build(Config.from_env())
        install_for_jobs(runtime)
        self.runtime = runtime


class HeraldSimpleWorker(InstallsRuntime, DedupedHeartbeats, ThrottledSuspensionCheck, SimpleWorker):
    """RQ's ``SimpleWorker`` (jobs run in the worker process) with fewer Redis round trips."""


class HeraldForkWorker(InstallsRuntime, DedupedHeartbeats, ThrottledSuspensionCheck, Worker):
    """RQ's forking ``Worker`` (a work-horse process per job) with fewer Redis round trips."""


WORKER_CLASS_BY_KIND = {"simple": HeraldSimpleWorker, "fork": HeraldForkWorker}


def worker_class(kind: str) -> type[BaseWorker]:
    """The worker class for ``HERALD_WORKER_CLASS`` ``kind`` (``simple`` or ``fork``)."""
    return WORKER_CLASS_BY_KIND[kind]
