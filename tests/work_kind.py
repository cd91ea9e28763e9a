"""A throwaway kind of durable work, ``chore``, registered from a test plugin: its tables, its
scripted handler, and a stand-in runtime (``redis``, ``registry``, ``pm``, ``clock``) for the kernel.

Shared by ``test_work.py`` and ``work_worker.py`` (the worker process a crash test SIGKILLs).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import peewee as pw
from rq import get_current_job

from herald.clock import FakeClock, SystemClock  # noqa: F401  (re-exported for the tests)
from herald.db.models import BaseModel, write_transaction
from herald.hookspecs import hookimpl
from herald.work import Outcome, RetryPolicy, WorkKind, WorkRow

LEASE_SECONDS = 120.0
JOB_TIMEOUT = 60


class Chore(WorkRow):
    """A row of the throwaway kind."""

    class Meta:
        table_name = "test_chore"

    label = pw.CharField(max_length=100, default="")
    error = pw.TextField(null=True)


class ChoreEffect(BaseModel):
    """What a chore did outside its row (as a platform keeps a post): one row per time it was done."""

    class Meta:
        table_name = "test_chore_effect"

    chore = pw.IntegerField()
    mode = pw.CharField(max_length=20)


TABLES = [Chore, ChoreEffect]


@dataclasses.dataclass
class StandInRuntime:
    """What the kernel needs of the runtime, until ``herald.runtime.Runtime`` lands."""

    config: Any
    pm: Any
    registry: Any
    redis: Any
    clock: Any


def effects(chore_id: int) -> list[str]:
    """The modes in which chore ``chore_id`` was done (each entry one time it was done)."""
    return [row.mode for row in ChoreEffect.select().where(ChoreEffect.chore == chore_id).order_by(ChoreEffect.id)]


class ChorePlugin:
    """Registers the ``chore`` kind. Its handler plays ``scripts[chore id]``, then ``script`` (per call:
    an Outcome, a function of the runtime and the row answering one, an exception to raise after doing
    the chore, or ``"do"``: do it and succeed); a
    recovering call first looks at the
    effects, as a platform's reconcile looks for the post, and settles the chore as done when it is
    there. ``block``: a path; the handler creates it after doing the chore, then hangs (to be killed)."""

    def __init__(self, retry: RetryPolicy | None = None, block: str | None = None, **kind_options: Any):
        self.script: list[Any] = []
        self.scripts: dict[int, list[Any]] = {}  # a chore's own script, played before the shared one
        self.calls: list[tuple[int, str, str]] = []  # (chore id, mode, RQ job id)
        self.block = block
        self.recovery_error: Exception | None = None  # raised by every recovering call
        options = {"job_timeout": JOB_TIMEOUT, "lease_seconds": LEASE_SECONDS, **kind_options}
        self.kind = WorkKind(name="chore", model=Chore, run=self.handle, retry=retry or RetryPolicy(),
                             error_field="error", **options)

    @hookimpl
    def register_work_kinds(self, register):
        """The ``chore`` kind."""
        register(self.kind)

    def handle(self, runtime, row: Chore, mode: str) -> Outcome:
        """The kind's handler: plays the script (see the class)."""
        job = get_current_job()
        self.calls.append((row.id, mode, job.id if job is not None else None))
        if mode == "recover" and self.recovery_error is not None:
            raise self.recovery_error
        if mode == "recover" and effects(row.id):
            return Outcome.done(label="found done")
        script = self.scripts.get(row.id) or self.script
        step = script.pop(0) if script else "do"
        if isinstance(step, Outcome):
            return step
        if callable(step):
            return step(runtime, row)
        with write_transaction():
            ChoreEffect.create(chore=row.id, mode=mode)
        if self.block:
            Path(self.block).touch()
            time.sleep(JOB_TIMEOUT)  # the worker process hangs here until the test kills it
        if isinstance(step, Exception):
            raise step
        return Outcome.done(label="done")
