"""Issue 25, item 3 (third step): the first intelligence read after a write updates what it holds from
the posts that changed instead of walking the client's history again.

``intelligence_post_change`` holds, per post, its client and the client's revision at the post's last
change (an UPDATE of a column the intelligence reads use, or any write to its engagement snapshots),
upserted by the triggers of :data:`herald.db.intelligence_revisions.CHANGE_TRIGGERS` (installed here) in
the transaction of the write. :mod:`herald.intelligence.items` reads the posts changed since the revision
it holds. ``intelligence_window`` holds, per client, the revision of the last write that may have
changed which posts it has (a post inserted or deleted, or its workspace, client or status changed).
Existing posts need no row: a reader that holds nothing walks the history first.
"""
from peewee import *

from herald.db import intelligence_revisions


def _tables(db):
    class IntelligencePostChange(Model):
        post_id = IntegerField(primary_key=True)
        client_id = IntegerField()
        revision = BigIntegerField()

        class Meta:
            database = db
            table_name = 'intelligence_post_change'
            indexes = ((('client_id', 'revision'), False),)

    class IntelligenceWindow(Model):
        client_id = IntegerField(primary_key=True)
        revision = BigIntegerField()

        class Meta:
            database = db
            table_name = 'intelligence_window'

    return IntelligencePostChange, IntelligenceWindow


def up(migrator, db):
    db.create_tables(list(_tables(db)))
    intelligence_revisions.CHANGE_TRIGGERS.install(db)


def down(migrator, db):
    intelligence_revisions.CHANGE_TRIGGERS.uninstall(db)
    migrator.migrate(migrator.drop_table('intelligence_window'), migrator.drop_table('intelligence_post_change'))
