"""What a kind of durable work is: its rows (the work-row contract), its statuses, its handler and
what a handler answers (:class:`Outcome`).

Plugins and the core register kinds through the ``register_work_kinds`` hook; a kind's model is
checked when the kind is made, so a table without the contract stops start-up, not a job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import peewee as pw

from ..db.models import WorkRow as WorkRow  # the contract, re-exported as herald.work.WorkRow
from .queue import DEFAULT_QUEUE
from .retry import RetryPolicy

# The columns every kind's table has (see herald.db.models.WorkRow).
CONTRACT = ("status", "step", "due_at", "lease_until", "attempts", "state")
MODES = ("run", "check", "recover")


@dataclasses.dataclass(frozen=True)
class Statuses:
    """The status names a kind's rows take (a kind may keep the names its API already shows).

    ``queued`` and ``retrying`` are runnable (a claim runs the handler in mode ``run``), ``waiting``
    is checked (mode ``check``: the work was handed over and its result is awaited), ``running``
    is held under a lease; ``done``, ``failed``, ``unconfirmed`` and ``cancelled`` are final. ``waiting``
    may equal ``running``: a row without a lease is then waiting, one with a lease is held. So may
    ``queued`` and ``retrying`` (a kind whose API shows one ``pending`` for all of them): a claim takes
    a row in mode ``run`` only when no lease is set.
    """

    queued: str = "queued"
    running: str = "running"
    retrying: str = "retrying"
    waiting: str = "waiting"
    done: str = "done"
    failed: str = "failed"
    unconfirmed: str = "unconfirmed"
    cancelled: str = "cancelled"

    @property
    def runnable(self) -> tuple[str, ...]:
        """Statuses a claim runs in mode ``run``."""
        return (self.queued, self.retrying)

    @property
    def active(self) -> tuple[str, ...]:
        """Statuses that should have a job (or a worker holding the row)."""
        return tuple(dict.fromkeys((self.queued, self.retrying, self.waiting, self.running)))

    @property
    def final(self) -> tuple[str, ...]:
        """Statuses no job ever leaves."""
        return (self.done, self.failed, self.unconfirmed, self.cancelled)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a handler answers for one step. Make one with the class methods.

    ``changes`` are more columns of the row to write with the outcome (a platform's post id);
    ``error`` goes to the kind's ``error_field`` (or the row's ``state["error"]``). ``detail`` is
    anything the handler hands to the kind's ``settle`` (what an attempt produced, to log beside the
    row); it is not written (``dataclasses.replace(Outcome.retry(...), detail=...)``).
    """

    kind: str  # done | retry | wait | defer | failed | unconfirmed | cancelled | unknown
    error: str | None = None
    delay: float | None = None  # wait: seconds until the check
    retry_after: float | None = None  # retry: the seconds the platform asked for, if it did
    unsure: bool = False  # retry: an earlier attempt may have gone out (out of attempts: unconfirmed)
    changes: dict[str, Any] = dataclasses.field(default_factory=dict)
    detail: Any = None

    @classmethod
    def done(cls, **changes: Any) -> Outcome:
        """Finished; ``changes`` are written with it."""
        return cls("done", changes=changes)

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None, *, unsure: bool = False, **changes: Any) -> Outcome:
        """A temporary failure: try again after the kind's backoff, or ``retry_after`` seconds."""
        return cls("retry", error=error, retry_after=retry_after, unsure=unsure, changes=changes)

    @classmethod
    def wait(cls, seconds: float, **changes: Any) -> Outcome:
        """Handed over, not finished: check again (mode ``check``) in ``seconds``; no attempt is counted."""
        return cls("wait", delay=seconds, changes=changes)

    @classmethod
    def defer(cls, seconds: float, **changes: Any) -> Outcome:
        """Not attempted after all (a slot was taken, a quota spent): queued again in ``seconds``,
        the attempt this claim counted given back."""
        return cls("defer", delay=seconds, changes=changes)

    @classmethod
    def failed(cls, error: str, **changes: Any) -> Outcome:
        """Failed for good."""
        return cls("failed", error=error, changes=changes)

    @classmethod
    def unconfirmed(cls, error: str, **changes: Any) -> Outcome:
        """It may have happened and nothing can tell: final, never done again."""
        return cls("unconfirmed", error=error, changes=changes)

    @classmethod
    def cancelled(cls, error: str, **changes: Any) -> Outcome:
        """Not to be done any more (what it was for is gone or switched off): final."""
        return cls("cancelled", error=error, changes=changes)

    @classmethod
    def unknown(cls, error: str) -> Outcome:
        """Nobody knows what happened (the handler raised): handled as if the worker had died, at once."""
        return cls("unknown", error=error)


Handler = Callable[[Any, pw.Model, str], Outcome]


@dataclasses.dataclass(frozen=True, eq=False)  # a kind is itself: its prepared claims are kept per kind
class WorkKind:
    """A kind of durable work: its rows, its queue and its handler.

    ``run(runtime, row, mode)`` does one step and returns an :class:`Outcome`; ``mode`` is ``run``
    (the row was queued or retrying), ``check`` (it was waiting) or ``recover`` (a worker died
    holding it: find out what happened before doing anything again). ``recover`` may be a separate
    handler for that mode. ``counted`` are the modes whose claim counts an attempt. ``settle(runtime,
    row, outcome, locked)``, when given, runs inside the transaction that records an outcome (events
    recorded there are dispatched after the commit); ``lock(runtime, row)``, when given, runs first in
    that transaction, before the row is written (a publish task takes its post's lock there, the order
    every writer of both keeps), and what it returns is ``settle``'s ``locked`` (None without a lock).
    ``after(runtime, row, outcome)``, when given, runs once the outcome
    is committed and its events dispatched, before the row's next job is enqueued (to enqueue other
    work that waited for this commit). ``final_error(row, error, unsure)``, when given, words the error
    of a row the retry policy gives up on (``error`` says why and what the last error was; ``unsure``:
    it ends ``unconfirmed``), so the kernel alone decides when to give up. ``lease_seconds`` must
    exceed ``job_timeout`` (a lease outlived only by a dead worker), unless the kernel renews the
    lease every ``renew_every`` seconds while the handler runs: then a short lease (three renewals at
    least) tells a worker killed during a long step (an AI call of minutes) from a slow one within
    that lease.
    """

    name: str
    model: type[pw.Model]
    run: Handler
    queue: str = DEFAULT_QUEUE
    job_timeout: int = 60
    lease_seconds: float = 120.0
    retry: RetryPolicy = RetryPolicy()
    statuses: Statuses = Statuses()
    recover: Handler | None = None
    counted: frozenset[str] = frozenset({"run", "recover"})
    error_field: str | None = None
    settle: Callable[[Any, pw.Model, Outcome, Any], None] | None = None
    renew_every: float | None = None
    lock: Callable[[Any, pw.Model], Any] | None = None
    after: Callable[[Any, pw.Model, Outcome], None] | None = None
    final_error: Callable[[pw.Model, str, bool], str] | None = None

    def __post_init__(self):
        missing = [name for name in CONTRACT if name not in self.model._meta.fields]
        if missing:
            raise TypeError(f"work kind {self.name!r}: {self.model.__name__} lacks the work-row columns "
                            f"{', '.join(missing)} (inherit herald.work.WorkRow)")
        if self.renew_every is None and self.lease_seconds <= self.job_timeout:
            raise ValueError(f"work kind {self.name!r}: lease_seconds must exceed job_timeout (or renew the lease)")
        if self.renew_every is not None and self.lease_seconds < 3 * self.renew_every:
            raise ValueError(f"work kind {self.name!r}: lease_seconds must cover three renewals at least")
        if not self.queue or not self.queue.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"work kind {self.name!r}: a queue's name is letters, digits, '_' and '-', "
                             f"not {self.queue!r}")
        if "-" in self.name:
            raise ValueError(f"work kind {self.name!r}: no '-' in a kind's name (it is part of job ids)")

    def handler(self, mode: str) -> Handler:
        """The handler of ``mode``."""
        return self.recover if mode == "recover" and self.recover is not None else self.run


def job_id(kind: str, row_id: Any, step: int) -> str:
    """The RQ job id of a row's ``step``: ``herald-<kind>-<row id>-<step>`` (never the same twice)."""
    return f"herald-{kind}-{row_id}-{step}"
