"""The core's own kinds of durable work: ``publish`` (publish tasks, :mod:`herald.publish_work`) and
``first_comment`` (first comments under published posts, :mod:`herald.first_comments`)."""

from __future__ import annotations

from herald import hookimpl
from herald.first_comments import FIRST_COMMENT
from herald.publish_work import KIND as PUBLISH


@hookimpl
def register_work_kinds(register):
    """Provide the ``publish`` and ``first_comment`` kinds."""
    register(PUBLISH)
    register(FIRST_COMMENT)
