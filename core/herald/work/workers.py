"""Herald's RQ worker classes: RQ's own ``SimpleWorker`` and ``Worker``, which also install a Herald
runtime for the jobs they run.

Nothing of RQ's worker is changed (heartbeats, the ``rq suspend`` check, the job's bookkeeping are
RQ's as they are): the time a step takes is won back in Herald's own work per step.

Each worker makes a Herald runtime available to the jobs it runs
(:func:`herald.runtime.install_for_jobs`): the one given by whoever built it (``herald worker``), else
the one a test fixture installed, else one built from the environment, so that a bare
``rq worker --worker-class herald.work.workers.HeraldSimpleWorker`` works too.
"""

from __future__ import annotations

from rq import SimpleWorker, Worker
from rq.worker import BaseWorker

from ..config import Config
from ..runtime import Runtime, install_for_jobs, installed_for_jobs


class InstallsRuntime(BaseWorker):
    """Mixin for an RQ worker class: install a Herald runtime for the jobs this process runs."""

    def __init__(self, *args, runtime: Runtime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if runtime is None:
            runtime = installed_for_jobs() or Runtime.build(Config.from_env())
        install_for_jobs(runtime)
        self.runtime = runtime


class HeraldSimpleWorker(InstallsRuntime, SimpleWorker):
    """RQ's ``SimpleWorker`` (jobs run in the worker process) with a Herald runtime for its jobs."""


class HeraldForkWorker(InstallsRuntime, Worker):
    """RQ's forking ``Worker`` (a work-horse process per job) with a Herald runtime for its jobs."""


WORKER_CLASS_BY_KIND = {"simple": HeraldSimpleWorker, "fork": HeraldForkWorker}


def worker_class(kind: str) -> type[BaseWorker]:
    """The worker class for ``HERALD_WORKER_CLASS`` ``kind`` (``simple`` or ``fork``)."""
    return WORKER_CLASS_BY_KIND[kind]
