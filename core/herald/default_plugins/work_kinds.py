"""The core's own kinds of durable work: ``publish`` (publish tasks, :mod:`herald.publish_work`)."""

from __future__ import annotations

from herald import hookimpl
from herald.publish_work import KIND as PUBLISH


@hookimpl
def register_work_kinds(register):
    """Provide the ``publish`` kind."""
    register(PUBLISH)
