"""Issue 25, item 3 (second step): intelligence reads become lookups while nothing they read changed.

``intelligence_revision`` holds one counter per client, bumped by triggers in the transaction of every
write that can change what the intelligence reads see, whatever code path makes it (as ``post_count``
of migration 0026 is kept):

- ``post``: an INSERT or DELETE; an UPDATE of a column the reads use (client, workspace, caption, topic,
  type, platforms, status, score, campaign, the three times), which bumps the old and the new client;
- ``engagement_snapshot``: an INSERT, UPDATE or DELETE (the post's client);
- ``client``: an UPDATE of its name, time zone or brand voice (brand memory shows them; the time zone
  moves every local time), and its DELETE (so that nothing stored for it matches a later client that
  might be given its id).

``intelligence_result`` keeps each computed result (the learned scorer's client model, brand memory,
ranked openers, patterns) with the revision it was computed at (:mod:`herald.intelligence.results`).
Neither table refers to ``client`` with a foreign key: the triggers may bump a client in the
statement that deletes it. Rows of a deleted client are left behind and never read again.

The triggers are defined in :mod:`herald.db.intelligence_revisions` (which installs them here). SQLite: a
migration that rebuilds ``post``, ``engagement_snapshot`` or ``client`` by copying it drops these
triggers: such a migration must install them again (``herald.db.intelligence_revisions.TRIGGERS.install(db)``).
"""
from peewee import *

from herald.db import intelligence_revisions


def _tables(db):
    class IntelligenceRevision(Model):
        client_id = IntegerField(primary_key=True)
        revision = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = 'intelligence_revision'

    class IntelligenceResult(Model):
        client_id = IntegerField()
        kind = CharField(max_length=40)
        revision = BigIntegerField()
        body = TextField()

        class Meta:
            database = db
            table_name = 'intelligence_result'
            indexes = ((('client_id', 'kind'), True),)

    return IntelligenceRevision, IntelligenceResult


def up(migrator, db):
    db.create_tables(list(_tables(db)))
    intelligence_revisions.TRIGGERS.install(db)


def down(migrator, db):
    intelligence_revisions.TRIGGERS.uninstall(db)
    migrator.migrate(migrator.drop_table('intelligence_result'), migrator.drop_table('intelligence_revision'))
