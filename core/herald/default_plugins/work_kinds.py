"""The core's own kinds of durable work: ``publish`` (publish tasks, :mod:`herald.publishing.publish_work`),
``first_comment`` (first comments under published posts, :mod:`herald.publishing.first_comments`) and
``background`` (jobs a request started, polled with ``GET /api/jobs/<id>``, :mod:`herald.ai.background`)."""

from __future__ import annotations

from herald import hookimpl
from herald.ai import background
from herald.publishing.first_comments import FIRST_COMMENT
from herald.publishing.publish_work import KIND as PUBLISH


@hookimpl
def register_work_kinds(register):
    """Provide the ``publish``, ``first_comment`` and ``background`` kinds."""
    register(PUBLISH)
    register(FIRST_COMMENT)
    register(background.KIND_OF_WORK)
