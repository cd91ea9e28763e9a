"""Lists that do not grow with the workspace (issue 25, item 1): indexes in each list's order, and
``post_count``, the number of posts per (workspace, client, campaign, status), so that ``total`` is a
sum of a few rows instead of a COUNT over every post.

Indexes (every list is newest first, ``ORDER BY id DESC``, paged by ``id < cursor``):

- ``post(workspace_id, id)``: ``GET /v1/posts``; ``post(workspace_id, status, id)``: its status filter;
- ``post(client_id, id)`` replaces ``post(client_id)`` (same cost per write, and still serves the
  ``ON DELETE SET NULL`` of a client): the client filter and the action ``list_posts``;
  ``post(client_id, status, id)``: ``list_posts``'s status filter;
- ``post(campaign_id, id)`` where set replaces ``post(campaign_id)`` where set (0009): the campaign filter.

Migration 0009 dropped indexes that no query used; these three more are each read by a list (the
write path's cost is measured by ``bench/publish_pipeline.py``).

``post_count`` is kept by triggers on ``post`` in the transaction that writes the post, whatever code
path writes it (an INSERT adds one with an atomic upsert, a DELETE takes one away, an UPDATE that changes
one of the four dimensions moves one): 0 stands for "no client" / "no campaign" so that the key is
unique. The triggers are defined in :mod:`herald.db.post_counts` (which installs them here). The backfill
counts the posts there are; ``herald derived check`` / ``rebuild`` (:mod:`herald.derived`) find and
repair drift and missing triggers.

SQLite: a migration that rebuilds the ``post`` table by copying it (peewee's ``alter_column_type``)
drops these triggers: such a migration must install them again (``herald.db.post_counts.TRIGGERS.install(db)``).
"""
from peewee import *

from herald.db import post_counts

KEY = post_counts.KEY

BACKFILL = (f"INSERT INTO post_count ({KEY}, n) SELECT workspace_id, COALESCE(client_id, 0), "
            f"COALESCE(campaign_id, 0), status, COUNT(*) FROM post "
            f"GROUP BY workspace_id, COALESCE(client_id, 0), COALESCE(campaign_id, 0), status")


def _table(db):
    class PostCount(Model):
        workspace_id = IntegerField()
        client_id = IntegerField()
        campaign_id = IntegerField()
        status = CharField(max_length=30)
        n = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = 'post_count'
            indexes = (((('workspace_id', 'client_id', 'campaign_id', 'status'), True)),)

    return PostCount


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index('post', 'post_client_id'),
        migrator.drop_index('post', 'post_campaign_id_set'),
        migrator.add_index('post', ('workspace_id', 'id'), False, name='post_workspace_id_id'),
        migrator.add_index('post', ('workspace_id', 'status', 'id'), False, name='post_workspace_id_status_id'),
        migrator.add_index('post', ('client_id', 'id'), False, name='post_client_id_id'),
        migrator.add_index('post', ('client_id', 'status', 'id'), False, name='post_client_id_status_id'),
        migrator.add_index('post', ('campaign_id', 'id'), False, where=SQL('campaign_id IS NOT NULL'),
                           name='post_campaign_id_id_set'),
    )
    db.create_tables([_table(db)])
    db.execute_sql(BACKFILL)
    post_counts.TRIGGERS.install(db)


def down(migrator, db):
    post_counts.TRIGGERS.uninstall(db)
    migrator.migrate(
        migrator.drop_table('post_count'),
        migrator.drop_index('post', 'post_campaign_id_id_set'),
        migrator.drop_index('post', 'post_client_id_status_id'),
        migrator.drop_index('post', 'post_client_id_id'),
        migrator.drop_index('post', 'post_workspace_id_status_id'),
        migrator.drop_index('post', 'post_workspace_id_id'),
        migrator.add_index('post', ('campaign_id',), False, where=SQL('campaign_id IS NOT NULL'),
                           name='post_campaign_id_set'),
        migrator.add_index('post', ('client_id',), False, name='post_client_id'),
    )
