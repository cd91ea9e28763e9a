"""Durable work for plugins: a kind of work a plugin registers (``register_work_kinds``) is claimed,
retried and reconciled by Herald's work kernel, like publishing.

A kind is a :class:`WorkKind` over a table whose model subclasses :class:`WorkRow` (``status``,
``step``, ``due_at``, ``lease_until``, ``attempts``, ``state``); its handler ``run(runtime, row,
mode)`` answers an :class:`Outcome` (``mode`` is ``run``, ``check`` or ``recover``: after a crash,
look before doing it again). :class:`RetryPolicy` says how often and how long apart failures are
tried again. The functions below start and steer rows of a kind (``perform`` runs a row's due step in
this process, as a worker would: for a console command that shows its result at once).
"""

from __future__ import annotations

from ..work import (
    MODES,
    Outcome,
    RetryPolicy,
    Statuses,
    WorkKind,
    WorkRow,
    cancel,
    enqueue,
    job_id,
    kind,
    move,
    parse_retry_after,
    perform,
)

__all__ = ["MODES", "Outcome", "RetryPolicy", "Statuses", "WorkKind", "WorkRow", "cancel", "enqueue", "job_id",
           "kind", "move", "parse_retry_after", "perform"]
