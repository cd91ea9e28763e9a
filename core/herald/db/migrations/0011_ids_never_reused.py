"""Publish task ids are never handed out twice (SQLite: AUTOINCREMENT).

A task's id names its RQ jobs (``herald-task-<id>-<step>``, ``comment-<id>-<attempt>``) and the
idempotency key sent to platforms (``herald-<id>``). SQLite reused the id of the newest task once
it was deleted (with its post, account or workspace), and the new task's first job then collided
with the finished job RQ still kept under that id: it was not enqueued until the reconciler came.
"""
from herald.db.migrate import never_reuse_ids


def up(migrator, db):
    never_reuse_ids(migrator, 'publish_task')


def down(migrator, db):
    never_reuse_ids(migrator, 'publish_task', undo=True)
