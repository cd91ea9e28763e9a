"""Fewer indexes on the tables every new post writes (post, post_version, event).

Each index is one more B-tree page written (to the WAL on SQLite) for every post created, and
most of these were never used by a query:

- post: the single-column indexes on workspace_id, created_at, status and scheduled_at give way to
  one index on (workspace_id, created_at), which serves the workspace's lists and month counts;
  every status filter also filters by workspace or client. campaign_id is indexed only where set
  (campaign lookups and the ON DELETE SET NULL of a campaign still use it).
- post_version: the unique (post_id, number) index already serves lookups by post.
- event: only the reconciler queries events (undispatched ones, by age), so one partial index on
  created_at where dispatched_at is null replaces the indexes on type, workspace_id and
  dispatched_at; it holds only the few events not dispatched yet.
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index('post', 'post_workspace_id'),
        migrator.drop_index('post', 'post_created_at'),
        migrator.drop_index('post', 'post_status'),
        migrator.drop_index('post', 'post_scheduled_at'),
        migrator.drop_index('post', 'post_campaign_id'),
        migrator.add_index('post', ('workspace_id', 'created_at'), False, name='post_workspace_id_created_at'),
        migrator.add_index('post', ('campaign_id',), False, where=SQL('campaign_id IS NOT NULL'),
                           name='post_campaign_id_set'),
        migrator.drop_index('post_version', 'postversion_post_id'),
        migrator.drop_index('event', 'event_type'),
        migrator.drop_index('event', 'event_workspace_id'),
        migrator.drop_index('event', 'event_dispatched_at'),
        migrator.add_index('event', ('created_at',), False, where=SQL('dispatched_at IS NULL'),
                           name='event_undispatched'),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('event', 'event_undispatched'),
        migrator.add_index('event', ('dispatched_at',), False, name='event_dispatched_at'),
        migrator.add_index('event', ('workspace_id',), False, name='event_workspace_id'),
        migrator.add_index('event', ('type',), False, name='event_type'),
        migrator.add_index('post_version', ('post_id',), False, name='postversion_post_id'),
        migrator.drop_index('post', 'post_campaign_id_set'),
        migrator.drop_index('post', 'post_workspace_id_created_at'),
        migrator.add_index('post', ('campaign_id',), False, name='post_campaign_id'),
        migrator.add_index('post', ('scheduled_at',), False, name='post_scheduled_at'),
        migrator.add_index('post', ('status',), False, name='post_status'),
        migrator.add_index('post', ('created_at',), False, name='post_created_at'),
        migrator.add_index('post', ('workspace_id',), False, name='post_workspace_id'),
    )
