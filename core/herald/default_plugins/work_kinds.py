"""The core's own kinds of durable work: ``publish`` (publish tasks, :mod:`herald.publishing.publish_work`),
``first_comment`` (first comments under published posts, :mod:`herald.publishing.first_comments`) and
``background`` (jobs a request started, polled with ``GET /api/jobs/<id>``, :mod:`herald.ai.background`) and
``token_refresh`` (refreshes of accounts' tokens, :mod:`herald.publishing.token_refresh`)."""

from __future__ import annotations

from herald import hookimpl
from herald.ai import background, competitor, design, openers
from herald.exports import jobs as export_jobs
from herald.publishing.first_comments import KIND as FIRST_COMMENT
from herald.publishing.publish_work import KIND as PUBLISH
from herald.publishing.token_refresh import KIND as TOKEN_REFRESH

# What each kind of background job runs (the kind is what a job row stores, never a module path).
BACKGROUND_JOBS = {"populate_hooks": openers.populate, "analyze_competitor": competitor.analyze,
                   "generate_template": design.generate_template, **export_jobs.FUNCTIONS}


@hookimpl
def register_work_kinds(register):
    """Provide the ``publish``, ``first_comment``, ``background`` and ``token_refresh`` kinds."""
    register(PUBLISH)
    register(FIRST_COMMENT)
    # Exports only read the database and write their own file: a worker that died is replaced and the
    # export written again (an AI job is not: its call may have been paid).
    register(background.work_kind(BACKGROUND_JOBS, restartable=frozenset(export_jobs.FUNCTIONS)))
    register(TOKEN_REFRESH)
