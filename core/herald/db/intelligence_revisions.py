"""The triggers that bump ``intelligence_revision``, one counter per client, in the transaction of every
write that can change what the intelligence reads see (migration 0032 created the table and installed
them; :mod:`herald.intelligence.results` serves a stored result while its client's revision is unchanged):

- ``post``: an INSERT or DELETE; an UPDATE of a column the reads use (client, workspace, caption, topic,
  type, platforms, status, score, campaign, the three times), which bumps the old and the new client;
- ``engagement_snapshot``: an INSERT, UPDATE or DELETE (the post's client);
- ``client``: an UPDATE of its name, time zone or brand voice, and its DELETE.

SQLite: a migration that rebuilds ``post``, ``engagement_snapshot`` or ``client`` by copying it drops
these triggers: such a migration must install them again (``TRIGGERS.install(db)``).
"""

from __future__ import annotations

from . import triggers

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


TRIGGERS = triggers.Triggers(SQLITE_TRIGGERS, POSTGRES_TRIGGERS)  # installed by migration 0032
