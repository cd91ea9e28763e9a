"""First comments become work rows of their own (``first_comment``, kind ``first_comment`` of
``herald.work``) instead of a second state machine inside ``publish_task.comment`` (JSON, times as ISO
strings) and ``publish_task.comment_status``.

Every comment moves over with its status, attempts, due time, platform id and error, and what its
next attempt must do first (``check_first``: look for it before sending it again). A comment being
posted while Herald was upgraded keeps ``posting`` under a lease ending when the old reconciler would
have given up on its worker (started + 10 minutes): the kernel then recovers it (looks for it, or
leaves it ``unconfirmed``), and it is never sent twice. Jobs queued before the upgrade
(``comment-<task>-<attempt>``, function ``herald.first_comments.run``, which no longer exists) fail
in RQ without touching a row; the reconciler gives every pending comment its job. The ids of the new table are never
reused (they name RQ jobs). ``down`` moves the comments back.
"""
import datetime as dt

from peewee import *

from herald.db.migrate import never_reuse_ids
from herald.db.models import JSONField

POSTING_TIMEOUT = dt.timedelta(minutes=10)
BATCH = 500


def _stored_time(value):
    """A time the JSON kept (``2026-06-01T09:00:00Z``) as the naive UTC datetime it stands for."""
    return dt.datetime.fromisoformat(value.removesuffix("Z")) if value else None


def _iso(value):
    return value.isoformat(timespec="seconds") + "Z" if value else None


def _tables(db):
    class Workspace(Model):
        class Meta:
            database = db
            table_name = 'workspace'

    class Post(Model):
        first_comment = TextField(null=True)
        class Meta:
            database = db
            table_name = 'post'

    class PublishTask(Model):
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        post = ForeignKeyField(Post, on_delete='CASCADE')
        comment_status = CharField(max_length=20, null=True)
        comment = JSONField(null=True)
        published_at = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'publish_task'

    class FirstComment(Model):
        status = CharField(max_length=20, index=True)
        step = IntegerField(default=0)
        due_at = DateTimeField(null=True, index=True)
        lease_until = DateTimeField(null=True)
        attempts = IntegerField(default=0)
        state = JSONField(default=dict)
        task = ForeignKeyField(PublishTask, unique=True, on_delete='CASCADE')
        workspace = ForeignKeyField(Workspace, on_delete='CASCADE')
        text = TextField()
        comment_id = CharField(max_length=200, null=True)
        error = TextField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'first_comment'
            legacy_table_names = False  # index names as the model's: first_comment_status, ...

    return Post, PublishTask, FirstComment


def up(migrator, db):
    Post, PublishTask, FirstComment = _tables(db)
    db.create_tables([FirstComment])
    never_reuse_ids(migrator, 'first_comment')
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    query = (PublishTask.select(PublishTask, Post.first_comment).join(Post)
             .where(PublishTask.comment_status.is_null(False)).order_by(PublishTask.id).objects())
    rows = []
    for task in query:
        details = task.comment or {}
        status = task.comment_status
        lease_until = None
        if status == 'posting':
            started = _stored_time(details.get('started_at'))
            lease_until = started + POSTING_TIMEOUT if started is not None else now
        rows.append({
            'task': task.id, 'workspace': task.workspace_id, 'text': task.first_comment or '',
            'status': status, 'step': 0,
            'due_at': _stored_time(details.get('due_at')) if status == 'pending' else None,
            'lease_until': lease_until, 'attempts': details.get('attempts', 0),
            'state': {'check_first': bool(details.get('check_first'))},
            'comment_id': details.get('id'), 'error': details.get('error'),
            'created_at': task.published_at or task.created_at,
            'updated_at': _stored_time(details.get('finished_at')) or task.updated_at,
        })
    for start in range(0, len(rows), BATCH):
        FirstComment.insert_many(rows[start:start + BATCH]).execute()
    migrator.migrate(
        migrator.drop_index('publish_task', 'publish_task_comment_under_way'),
        migrator.drop_column('publish_task', 'comment'),
        migrator.drop_column('publish_task', 'comment_status'),
    )


def down(migrator, db):
    Post, PublishTask, FirstComment = _tables(db)
    migrator.migrate(
        migrator.add_column('publish_task', 'comment_status', CharField(max_length=20, null=True)),
        migrator.add_column('publish_task', 'comment', JSONField(null=True)),
        migrator.add_index('publish_task', ('comment_status',), False,
                           where=SQL("comment_status IN ('pending', 'posting')"),
                           name='publish_task_comment_under_way'),
    )
    for comment in list(FirstComment.select().order_by(FirstComment.id)):
        details = {'attempts': comment.attempts, 'id': comment.comment_id, 'error': comment.error,
                   'check_first': bool((comment.state or {}).get('check_first')),
                   'due_at': _iso(comment.due_at) if comment.status == 'pending' else None}
        if comment.status == 'posting' and comment.lease_until is not None:
            details['started_at'] = _iso(comment.lease_until - POSTING_TIMEOUT)
        (PublishTask.update(comment_status=comment.status, comment=details)
         .where(PublishTask.id == comment.task_id).execute())
    migrator.migrate(migrator.drop_table('first_comment'))
