"""Reports from aggregates (issue 25, item 2): ``daily_figures``, one row per workspace, client and UTC
day with the counts and engagement sums the health scores and the analytics export read, kept by
triggers in the same transaction as every write that changes them (see :mod:`herald.db.daily_figures`),
and filled here from the existing rows; and ``client_account``, the publish tasks of each client's
posts per account (the accounts a client's health looks at).

Indexes for the short walks at a period's edges (a report sums whole days from ``daily_figures`` and
reads the posts and tasks of the partial days around): posts by (workspace, published_at) and by
(workspace, the moment they went out: ``COALESCE(published_at, scheduled_at, created_at)``), tasks by
(workspace, updated_at), and snapshots by (post, recorded_at, id) so a post's newest is one seek; and the
posts and tasks waiting for approval (partial indexes: only those rows), which the health scores
count and take the oldest of.
"""
from peewee import *

from herald.db import daily_figures

WENT_OUT_INDEX = 'post_workspace_id_went_out'


def _table(db):
    class DailyFigures(Model):
        workspace_id = IntegerField()
        client_id = IntegerField()
        day = DateField()
        posts_created = IntegerField(default=0)
        posts_published = IntegerField(default=0)
        tasks_published = IntegerField(default=0)
        tasks_failed = IntegerField(default=0)
        tasks_unconfirmed = IntegerField(default=0)
        engaged_posts = IntegerField(default=0)
        likes = BigIntegerField(default=0)
        comments = BigIntegerField(default=0)
        saves = BigIntegerField(default=0)
        shares = BigIntegerField(default=0)
        reach = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = 'daily_figures'
            indexes = ((('workspace_id', 'day', 'client_id'), True),)

    class ClientAccount(Model):
        workspace_id = IntegerField(index=True)
        client_id = IntegerField()
        account_id = IntegerField()
        tasks = IntegerField(default=0)

        class Meta:
            database = db
            table_name = 'client_account'
            indexes = ((('client_id', 'account_id'), True),)

    return DailyFigures, ClientAccount


def up(migrator, db):
    db.create_tables(list(_table(db)))
    migrator.migrate(
        migrator.add_index('post', ('workspace_id', 'published_at'), False, name='post_workspace_id_published_at'),
        migrator.add_index('publish_task', ('workspace_id', 'updated_at'), False,
                           name='publishtask_workspace_id_updated_at'),
        migrator.add_index('engagement_snapshot', ('post_id', 'recorded_at', 'id'), False,
                           name='engagementsnapshot_post_id_recorded_at_id'),
        migrator.add_index('post', ('workspace_id', 'client_id', 'status'), False, where=SQL("status = 'pending_approval'"),
                           name='post_pending_approval'),
        migrator.add_index('publish_task', ('workspace_id', 'created_at'), False,
                           where=SQL("status = 'pending_approval'"), name='publishtask_pending_approval'),
    )
    db.execute_sql(f'CREATE INDEX {WENT_OUT_INDEX} ON post '
                   '(workspace_id, COALESCE(published_at, scheduled_at, created_at))')
    # Only the days: the hours' table comes with migration 0033, which installs the triggers again.
    daily_figures.install(db, (daily_figures.DAY,))
    daily_figures.rebuild(db, buckets=(daily_figures.DAY,))


def down(migrator, db):
    daily_figures.uninstall(db)
    db.execute_sql(f'DROP INDEX {WENT_OUT_INDEX}')
    migrator.migrate(
        migrator.drop_index('publish_task', 'publishtask_pending_approval'),
        migrator.drop_index('post', 'post_pending_approval'),
        migrator.drop_index('engagement_snapshot', 'engagementsnapshot_post_id_recorded_at_id'),
        migrator.drop_index('publish_task', 'publishtask_workspace_id_updated_at'),
        migrator.drop_index('post', 'post_workspace_id_published_at'),
        migrator.drop_table('client_account'),
        migrator.drop_table('daily_figures'),
    )
