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

SQLite: a migration that rebuilds ``post``, ``engagement_snapshot`` or ``client`` by copying it drops
these triggers: such a migration must create them again (:func:`create_triggers`).
"""
from peewee import *
from playhouse.migrate import SqliteMigrator

POST_COLUMNS = ("workspace_id, client_id, campaign_id, caption, topic, post_type, platforms, status, score, "
                "scheduled_at, published_at, created_at")
CLIENT_COLUMNS = "name, timezone, brand_voice"


def _bump(client_id):
    """SQL that adds one to the revision of ``client_id`` (an expression; nothing when it is NULL)."""
    return (f"INSERT INTO intelligence_revision (client_id, revision) SELECT {client_id}, 1 WHERE {client_id} "
            f"IS NOT NULL ON CONFLICT (client_id) DO UPDATE SET revision = intelligence_revision.revision + 1;")


def _bump_post(post_id):
    return (f"INSERT INTO intelligence_revision (client_id, revision) SELECT client_id, 1 FROM post "
            f"WHERE id = {post_id} AND client_id IS NOT NULL "
            f"ON CONFLICT (client_id) DO UPDATE SET revision = intelligence_revision.revision + 1;")


def _changed(columns):
    return " OR ".join(f"OLD.{name} IS NOT NEW.{name}" for name in columns.split(", "))


SQLITE_TRIGGERS = (
    f"CREATE TRIGGER intelligence_post_insert AFTER INSERT ON post BEGIN {_bump('NEW.client_id')} END",
    f"CREATE TRIGGER intelligence_post_delete AFTER DELETE ON post BEGIN {_bump('OLD.client_id')} END",
    f"""CREATE TRIGGER intelligence_post_update AFTER UPDATE OF {POST_COLUMNS} ON post
    WHEN {_changed(POST_COLUMNS)}
    BEGIN {_bump('OLD.client_id')} {_bump('NEW.client_id')} END""",
    f"""CREATE TRIGGER intelligence_snapshot_insert AFTER INSERT ON engagement_snapshot
    BEGIN {_bump_post('NEW.post_id')} END""",
    f"""CREATE TRIGGER intelligence_snapshot_delete AFTER DELETE ON engagement_snapshot
    BEGIN {_bump_post('OLD.post_id')} END""",
    f"""CREATE TRIGGER intelligence_snapshot_update AFTER UPDATE ON engagement_snapshot
    BEGIN {_bump_post('OLD.post_id')} {_bump_post('NEW.post_id')} END""",
    f"""CREATE TRIGGER intelligence_client_update AFTER UPDATE OF {CLIENT_COLUMNS} ON client
    WHEN {_changed(CLIENT_COLUMNS)}
    BEGIN {_bump('NEW.id')} END""",
    f"CREATE TRIGGER intelligence_client_delete AFTER DELETE ON client BEGIN {_bump('OLD.id')} END",
)

POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION intelligence_post_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {_bump('OLD.client_id')} END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN {_bump('NEW.client_id')} END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER intelligence_post_insert_delete AFTER INSERT OR DELETE ON post
    FOR EACH ROW EXECUTE FUNCTION intelligence_post_change()""",
    f"""CREATE TRIGGER intelligence_post_update AFTER UPDATE OF {POST_COLUMNS} ON post
    FOR EACH ROW WHEN (({', '.join('OLD.' + c for c in POST_COLUMNS.split(', '))})
                       IS DISTINCT FROM ({', '.join('NEW.' + c for c in POST_COLUMNS.split(', '))}))
    EXECUTE FUNCTION intelligence_post_change()""",
    f"""CREATE FUNCTION intelligence_snapshot_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {_bump_post('OLD.post_id')} END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN {_bump_post('NEW.post_id')} END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER intelligence_snapshot_change AFTER INSERT OR UPDATE OR DELETE ON engagement_snapshot
    FOR EACH ROW EXECUTE FUNCTION intelligence_snapshot_change()""",
    f"""CREATE FUNCTION intelligence_client_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_bump('OLD.id')}
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER intelligence_client_update AFTER UPDATE OF {CLIENT_COLUMNS} ON client
    FOR EACH ROW WHEN (({', '.join('OLD.' + c for c in CLIENT_COLUMNS.split(', '))})
                       IS DISTINCT FROM ({', '.join('NEW.' + c for c in CLIENT_COLUMNS.split(', '))}))
    EXECUTE FUNCTION intelligence_client_change()""",
    """CREATE TRIGGER intelligence_client_delete AFTER DELETE ON client
    FOR EACH ROW EXECUTE FUNCTION intelligence_client_change()""",
)


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


def create_triggers(migrator, db):
    """The triggers that bump ``intelligence_revision`` (SQLite's or PostgreSQL's)."""
    for statement in SQLITE_TRIGGERS if isinstance(migrator, SqliteMigrator) else POSTGRES_TRIGGERS:
        db.execute_sql(statement)


def up(migrator, db):
    db.create_tables(list(_tables(db)))
    create_triggers(migrator, db)


def down(migrator, db):
    if isinstance(migrator, SqliteMigrator):
        for name in ('intelligence_post_insert', 'intelligence_post_delete', 'intelligence_post_update',
                     'intelligence_snapshot_insert', 'intelligence_snapshot_delete', 'intelligence_snapshot_update',
                     'intelligence_client_update', 'intelligence_client_delete'):
            db.execute_sql(f'DROP TRIGGER IF EXISTS {name}')
    else:
        for name, table in (('intelligence_post_insert_delete', 'post'), ('intelligence_post_update', 'post'),
                            ('intelligence_snapshot_change', 'engagement_snapshot'),
                            ('intelligence_client_update', 'client'), ('intelligence_client_delete', 'client')):
            db.execute_sql(f'DROP TRIGGER IF EXISTS {name} ON {table}')
        for name in ('intelligence_post_change', 'intelligence_snapshot_change', 'intelligence_client_change'):
            db.execute_sql(f'DROP FUNCTION IF EXISTS {name}()')
    migrator.migrate(migrator.drop_table('intelligence_result'), migrator.drop_table('intelligence_revision'))
