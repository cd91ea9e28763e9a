"""The RQ job function of every kind of work (kept apart: it reads the runtime the worker installed)."""

from __future__ import annotations

from ..runtime import for_jobs
from . import kernel


def perform(kind: str, row_id, step: int) -> str:
    """RQ job: one step of row ``row_id`` of work kind ``kind`` (see :func:`herald.work.kernel.perform`)."""
    return kernel.perform(for_jobs(), kind, row_id, step)
