"""The triggers that bump ``intelligence_revision``, one counter per client, in the transaction of every
write that can change what the intelligence reads see (migration 0032 created the table and installed
them; :mod:`herald.intelligence.results` serves a stored result while its client's revision is unchanged):

- ``post``: an INSERT or DELETE; an UPDATE of a column the reads use (client, workspace, caption, topic,
  type, platforms, status, score, campaign, the three times), which bumps the old and the new client;
- ``engagement_snapshot``: an INSERT, UPDATE or DELETE (the post's client);
- ``client``: an UPDATE of its name, time zone or brand voice, and its DELETE.

Beside the counter, ``intelligence_post_change`` (migration 0037) says which posts changed: one row per
post, upserted by the triggers of :data:`CHANGE_TRIGGERS` in the transaction of every UPDATE of a post's
read columns and every write to its snapshots, with its client and that client's revision at the time. The
per-process cache of analysed posts (:mod:`herald.intelligence.items`) reads the posts changed since the
revision it holds instead of walking the client's history again. The row takes the revision after the
write's bump (PostgreSQL fires AFTER triggers by name, and ``intelligence_track_*`` sorts after the
bumps; SQLite's writers are serial, so a row holding the revision before the bump is still at least the
revision any reader saw before the write): a cache at revision ``R`` reloads the posts whose row has a
revision ``>= R``. Inserted, deleted, cancelled or moved posts enter or leave a client's newest posts:
``intelligence_window`` holds per client the revision of the last such write (an INSERT or DELETE of one
of its posts, an UPDATE of a post's workspace, client or status), and a cache whose revision is newer
does not read the ids of the client's newest posts again; the delete trigger drops the post's row.

SQLite: a migration that rebuilds ``post``, ``engagement_snapshot`` or ``client`` by copying it drops
these triggers: such a migration must install them again (``TRIGGERS.install(db)`` and
``CHANGE_TRIGGERS.install(db)``).
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


def _track(post_id):
    """SQL that records the post ``post_id`` as changed at its client's current revision (an upsert)."""
    return (f"INSERT INTO intelligence_post_change (post_id, client_id, revision) "
            f"SELECT post.id, post.client_id, COALESCE(intelligence_revision.revision, 0) FROM post "
            f"LEFT JOIN intelligence_revision ON intelligence_revision.client_id = post.client_id "
            f"WHERE post.id = {post_id} AND post.client_id IS NOT NULL "
            f"ON CONFLICT (post_id) DO UPDATE SET client_id = excluded.client_id, revision = excluded.revision;")


_FORGET = "DELETE FROM intelligence_post_change WHERE post_id = OLD.id;"
WINDOW_COLUMNS = "workspace_id, client_id, status"  # what decides whether a post is among a client's


def _window(client_id):
    """SQL that records that the posts of ``client_id`` changed (a post came, went or changed status) at
    its current revision (an upsert; nothing when the client is NULL)."""
    return (f"INSERT INTO intelligence_window (client_id, revision) SELECT {client_id}, "
            f"COALESCE((SELECT revision FROM intelligence_revision WHERE client_id = {client_id}), 0) "
            f"WHERE {client_id} IS NOT NULL "
            f"ON CONFLICT (client_id) DO UPDATE SET revision = excluded.revision;")

SQLITE_CHANGE_TRIGGERS = (
    f"""CREATE TRIGGER intelligence_track_post_update AFTER UPDATE OF {POST_COLUMNS} ON post
    WHEN {_changed(POST_COLUMNS)}
    BEGIN {_track('NEW.id')} END""",
    f"""CREATE TRIGGER intelligence_track_post_delete AFTER DELETE ON post
    BEGIN {_FORGET} {_window('OLD.client_id')} END""",
    f"CREATE TRIGGER intelligence_track_post_insert AFTER INSERT ON post BEGIN {_window('NEW.client_id')} END",
    f"""CREATE TRIGGER intelligence_track_window_update AFTER UPDATE OF {WINDOW_COLUMNS} ON post
    WHEN {_changed(WINDOW_COLUMNS)}
    BEGIN {_window('OLD.client_id')} {_window('NEW.client_id')} END""",
    f"""CREATE TRIGGER intelligence_track_snapshot_insert AFTER INSERT ON engagement_snapshot
    BEGIN {_track('NEW.post_id')} END""",
    f"""CREATE TRIGGER intelligence_track_snapshot_delete AFTER DELETE ON engagement_snapshot
    BEGIN {_track('OLD.post_id')} END""",
    f"""CREATE TRIGGER intelligence_track_snapshot_update AFTER UPDATE ON engagement_snapshot
    BEGIN {_track('OLD.post_id')} {_track('NEW.post_id')} END""",
)

POSTGRES_CHANGE_TRIGGERS = (
    f"""CREATE FUNCTION intelligence_track_post() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN {_FORGET} ELSE {_track('NEW.id')} END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION intelligence_track_window() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {_window('OLD.client_id')} END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN {_window('NEW.client_id')} END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER intelligence_track_window AFTER INSERT OR DELETE ON post
    FOR EACH ROW EXECUTE FUNCTION intelligence_track_window()""",
    f"""CREATE TRIGGER intelligence_track_window_update AFTER UPDATE OF {WINDOW_COLUMNS} ON post
    FOR EACH ROW WHEN (({', '.join('OLD.' + c for c in WINDOW_COLUMNS.split(', '))})
                       IS DISTINCT FROM ({', '.join('NEW.' + c for c in WINDOW_COLUMNS.split(', '))}))
    EXECUTE FUNCTION intelligence_track_window()""",
    f"""CREATE TRIGGER intelligence_track_post_update AFTER UPDATE OF {POST_COLUMNS} ON post
    FOR EACH ROW WHEN (({', '.join('OLD.' + c for c in POST_COLUMNS.split(', '))})
                       IS DISTINCT FROM ({', '.join('NEW.' + c for c in POST_COLUMNS.split(', '))}))
    EXECUTE FUNCTION intelligence_track_post()""",
    """CREATE TRIGGER intelligence_track_post_delete AFTER DELETE ON post
    FOR EACH ROW EXECUTE FUNCTION intelligence_track_post()""",
    f"""CREATE FUNCTION intelligence_track_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {_track('OLD.post_id')} END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN {_track('NEW.post_id')} END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER intelligence_track_snapshot AFTER INSERT OR UPDATE OR DELETE ON engagement_snapshot
    FOR EACH ROW EXECUTE FUNCTION intelligence_track_snapshot()""",
)


def invalidate(database, workspace_id: int | None = None) -> None:
    """Bump the revision of every client (of one workspace, or all) and record a change of all its posts
    (a row whose ``post_id`` is minus the client's id): after a rebuild, when writes may have gone in
    without the triggers, nothing held at an earlier revision is reused or updated in part."""
    # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT (its parser would read ON as a join's)
    where = " WHERE TRUE" if workspace_id is None else f" WHERE client.workspace_id = {int(workspace_id)}"
    database.execute_sql(
        f"INSERT INTO intelligence_revision (client_id, revision) SELECT id, 1 FROM client{where} "
        f"ON CONFLICT (client_id) DO UPDATE SET revision = intelligence_revision.revision + 1")
    database.execute_sql(
        f"INSERT INTO intelligence_post_change (post_id, client_id, revision) "
        f"SELECT -client.id, client.id, intelligence_revision.revision FROM client JOIN intelligence_revision "
        f"ON intelligence_revision.client_id = client.id{where} "
        f"ON CONFLICT (post_id) DO UPDATE SET client_id = excluded.client_id, revision = excluded.revision")


CHANGE_TRIGGERS = triggers.Triggers(SQLITE_CHANGE_TRIGGERS, POSTGRES_CHANGE_TRIGGERS)  # installed by migration 0037
ALL_TRIGGERS = triggers.Triggers(SQLITE_TRIGGERS + SQLITE_CHANGE_TRIGGERS,
                                 POSTGRES_TRIGGERS + POSTGRES_CHANGE_TRIGGERS)  # what the registry keeps
