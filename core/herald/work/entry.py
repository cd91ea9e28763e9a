"""The RQ job function of every kind of work (kept apart: it finds the process's runtime)."""

from __future__ import annotations

from .. import jobs
from . import kernel


def perform(kind: str, row_id, step: int) -> str:
    """RQ job: one step of row ``row_id`` of work kind ``kind`` (see :func:`herald.work.kernel.perform`)."""
    return kernel.perform(jobs.runtime(), kind, row_id, step)
