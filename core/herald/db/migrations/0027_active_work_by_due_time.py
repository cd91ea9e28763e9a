"""Durable work is found by its due time among active rows only (issue 25, the scheduler at scale).

The reconciler hands rows to RQ only as they come due (within ``HERALD_SCHEDULE_LOOKAHEAD_SECONDS``),
finds expired leases, and ``/health`` finds the oldest due publish task: each reads the active rows
by ``due_at`` from the start. A partial index on ``(due_at, id)`` (the order the reconciler pages in) where the row's status is active (one per
work table, its kind's active statuses) serves them in order without sorting, and holds only the
rows that still have work to do; it replaces the index on ``due_at`` of every row, whose entries
were nearly all final rows (``due_at`` null). The predicates are the literals
``herald.db.models.status_in`` writes (sorted names), which the queries repeat (``IS TRUE``:
one term the index on ``status`` cannot serve, see there).
"""
from peewee import *

# table, the old index on due_at, the kind's active statuses as status_in writes them
TABLES = (
    ('publish_task', 'publishtask_due_at', "(status IN ('publishing', 'queued', 'retrying')) IS TRUE"),
    ('first_comment', 'first_comment_due_at', "(status IN ('pending', 'posting')) IS TRUE"),
    ('token_refresh', 'token_refresh_due_at', "(status IN ('queued', 'retrying', 'running', 'waiting')) IS TRUE"),
    ('background_job', 'background_job_due_at', "(status IN ('queued', 'running', 'waiting')) IS TRUE"),
)


def up(migrator, db):
    operations = []
    for table, old, active in TABLES:
        operations += [migrator.drop_index(table, old),
                       migrator.add_index(table, ('due_at', 'id'), False, where=SQL(active),
                                           name=f'{table}_active_due')]
    migrator.migrate(*operations)


def down(migrator, db):
    operations = []
    for table, old, _ in TABLES:
        operations += [migrator.drop_index(table, f'{table}_active_due'),
                       migrator.add_index(table, ('due_at',), False, name=old)]
    migrator.migrate(*operations)
