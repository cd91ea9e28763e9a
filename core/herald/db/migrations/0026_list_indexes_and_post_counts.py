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
unique. The backfill counts the posts there are; ``herald counters check`` / ``rebuild``
(:mod:`herald.db.post_counts`) find and repair drift.

SQLite: a migration that rebuilds the ``post`` table by copying it (peewee's ``alter_column_type``)
drops these triggers: such a migration must create them again (:func:`create_triggers`).
"""
from peewee import *
from playhouse.migrate import SqliteMigrator

KEY = "workspace_id, client_id, campaign_id, status"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER post_count_insert AFTER INSERT ON post BEGIN
        INSERT INTO post_count ({KEY}, n)
        VALUES (NEW.workspace_id, COALESCE(NEW.client_id, 0), COALESCE(NEW.campaign_id, 0), NEW.status, 1)
        ON CONFLICT ({KEY}) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER post_count_delete AFTER DELETE ON post BEGIN
        UPDATE post_count SET n = n - 1
        WHERE workspace_id = OLD.workspace_id AND client_id = COALESCE(OLD.client_id, 0)
          AND campaign_id = COALESCE(OLD.campaign_id, 0) AND status = OLD.status;
    END""",
    f"""CREATE TRIGGER post_count_update AFTER UPDATE OF workspace_id, client_id, campaign_id, status ON post
    WHEN OLD.workspace_id IS NOT NEW.workspace_id OR OLD.client_id IS NOT NEW.client_id
      OR OLD.campaign_id IS NOT NEW.campaign_id OR OLD.status IS NOT NEW.status
    BEGIN
        UPDATE post_count SET n = n - 1
        WHERE workspace_id = OLD.workspace_id AND client_id = COALESCE(OLD.client_id, 0)
          AND campaign_id = COALESCE(OLD.campaign_id, 0) AND status = OLD.status;
        INSERT INTO post_count ({KEY}, n)
        VALUES (NEW.workspace_id, COALESCE(NEW.client_id, 0), COALESCE(NEW.campaign_id, 0), NEW.status, 1)
        ON CONFLICT ({KEY}) DO UPDATE SET n = n + 1;
    END""",
)

POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION post_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE post_count SET n = n - 1
            WHERE workspace_id = OLD.workspace_id AND client_id = COALESCE(OLD.client_id, 0)
              AND campaign_id = COALESCE(OLD.campaign_id, 0) AND status = OLD.status;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO post_count AS counted ({KEY}, n)
            VALUES (NEW.workspace_id, COALESCE(NEW.client_id, 0), COALESCE(NEW.campaign_id, 0), NEW.status, 1)
            ON CONFLICT ({KEY}) DO UPDATE SET n = counted.n + 1;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER post_count_insert_delete AFTER INSERT OR DELETE ON post
    FOR EACH ROW EXECUTE FUNCTION post_count_change()""",
    """CREATE TRIGGER post_count_update AFTER UPDATE OF workspace_id, client_id, campaign_id, status ON post
    FOR EACH ROW WHEN ((OLD.workspace_id, OLD.client_id, OLD.campaign_id, OLD.status)
                       IS DISTINCT FROM (NEW.workspace_id, NEW.client_id, NEW.campaign_id, NEW.status))
    EXECUTE FUNCTION post_count_change()""",
)

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


def create_triggers(migrator, db):
    """The triggers that keep ``post_count`` (SQLite's or PostgreSQL's)."""
    for statement in SQLITE_TRIGGERS if isinstance(migrator, SqliteMigrator) else POSTGRES_TRIGGERS:
        db.execute_sql(statement)


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
    create_triggers(migrator, db)


def down(migrator, db):
    if isinstance(migrator, SqliteMigrator):
        for name in ('post_count_insert', 'post_count_delete', 'post_count_update'):
            db.execute_sql(f'DROP TRIGGER IF EXISTS {name}')
    else:
        db.execute_sql('DROP TRIGGER IF EXISTS post_count_insert_delete ON post')
        db.execute_sql('DROP TRIGGER IF EXISTS post_count_update ON post')
        db.execute_sql('DROP FUNCTION IF EXISTS post_count_change()')
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
