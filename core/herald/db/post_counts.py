"""``total`` of the post lists in O(1): sums of ``post_count`` rows, the number of posts per (workspace,
client, campaign, status) that triggers on ``post`` keep in the writing transaction (migration 0026), so
every write path counts, the ones written later included. The triggers are defined here
(:data:`TRIGGERS`); migration 0026 installed them.

A list filtered by something the counters do not hold (the platform of a post's tasks) counts exactly
with an index-bounded COUNT instead (:func:`herald.db.paging.exact_total`): ``total`` is exact either way.

:func:`drift` recounts every post and names the counters that differ, and :func:`rebuild` sets them from a
recount: the registry of derived data runs them (:mod:`herald.derived`: ``herald derived check|rebuild``
and ``herald cron``'s repair).

SQLite: a migration that rebuilds the ``post`` table by copying it (peewee's ``alter_column_type``)
drops these triggers: such a migration must install them again (``TRIGGERS.install(db)``).
"""

from __future__ import annotations

import peewee as pw

from . import triggers
from .models import Post, PostCount

NONE = 0  # the client_id / campaign_id of a post without one
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


TRIGGERS = triggers.Triggers(SQLITE_TRIGGERS, POSTGRES_TRIGGERS)  # installed by migration 0026


def total(workspace_id: int, *, client_id: int | None = None, campaign_id: int | None = None,
          status: str | None = None) -> int:
    """How many posts of the workspace match: any client / campaign / status where None."""
    query = PostCount.select(pw.fn.COALESCE(pw.fn.SUM(PostCount.n), 0)).where(PostCount.workspace_id == workspace_id)
    if client_id is not None:
        query = query.where(PostCount.client_id == client_id)
    if campaign_id is not None:
        query = query.where(PostCount.campaign_id == campaign_id)
    if status is not None:
        query = query.where(PostCount.status == status)
    return int(query.scalar())


def by_status(workspace_id: int, client_id: int) -> dict[str, int]:
    """How many posts of the client there are per status (a status without posts is left out)."""
    query = (PostCount.select(PostCount.status, pw.fn.SUM(PostCount.n))
             .where((PostCount.workspace_id == workspace_id) & (PostCount.client_id == client_id))
             .group_by(PostCount.status).having(pw.fn.SUM(PostCount.n) > 0))
    return {status: int(n) for status, n in query.tuples()}


def by_campaign(workspace_id: int, campaign_ids: list[int]) -> dict[int, int]:
    """How many posts each of ``campaign_ids`` (of the workspace) has; a campaign without posts is left out."""
    if not campaign_ids:
        return {}
    query = (PostCount.select(PostCount.campaign_id, pw.fn.SUM(PostCount.n))
             .where((PostCount.workspace_id == workspace_id) & PostCount.campaign_id.in_(campaign_ids))
             .group_by(PostCount.campaign_id).having(pw.fn.SUM(PostCount.n) > 0))
    return {campaign: int(n) for campaign, n in query.tuples()}


def _recounted(database: pw.Database, workspace_id: int | None) -> dict[tuple, int]:
    """Every post (of the workspace, or all) counted now, by (workspace, client, campaign, status)."""
    client = pw.fn.COALESCE(Post.client, NONE)
    campaign = pw.fn.COALESCE(Post.campaign, NONE)
    query = (Post.select(Post.workspace, client, campaign, Post.status, pw.fn.COUNT(Post.id))
             .group_by(Post.workspace, client, campaign, Post.status))
    if workspace_id is not None:
        query = query.where(Post.workspace == workspace_id)
    return {tuple(row[:4]): row[4] for row in database.execute(query).fetchall()}


def _stored(database: pw.Database, workspace_id: int | None) -> dict[tuple, int]:
    """The counters as stored (of the workspace, or all), zeros left out."""
    query = PostCount.select(PostCount.workspace_id, PostCount.client_id, PostCount.campaign_id, PostCount.status,
                             PostCount.n).where(PostCount.n != 0)
    if workspace_id is not None:
        query = query.where(PostCount.workspace_id == workspace_id)
    return {tuple(row[:4]): row[4] for row in database.execute(query).fetchall()}


def drift(database: pw.Database, workspace_id: int | None = None) -> list[dict]:
    """The counters of ``database`` (of the workspace, or all) that differ from a recount of the posts (empty when all
    are exact), each as ``{"workspace_id", "client_id", "campaign_id", "status", "stored", "counted"}``.
    Read in one transaction, so that concurrent writes cannot show as drift."""
    with database.atomic():
        counted, stored = _recounted(database, workspace_id), _stored(database, workspace_id)
    keys = ("workspace_id", "client_id", "campaign_id", "status")
    return [dict(zip(keys, key, strict=True), stored=stored.get(key, 0), counted=counted.get(key, 0))
            for key in sorted(counted.keys() | stored.keys(), key=str)
            if stored.get(key, 0) != counted.get(key, 0)]


def rebuild(database: pw.Database, workspace_id: int | None = None) -> int:
    """Set every counter of ``database`` (of the workspace, or all) from a recount of the posts, in one transaction that
    holds off post writes meanwhile (PostgreSQL: a SHARE lock on ``post``; SQLite: the write transaction).
    Returns the number of counter rows written."""
    with database.atomic():
        if isinstance(database, pw.PostgresqlDatabase):
            database.execute_sql("LOCK TABLE post IN SHARE MODE")
        deleted = PostCount.delete()
        if workspace_id is not None:
            deleted = deleted.where(PostCount.workspace_id == workspace_id)
        database.execute(deleted)
        rows = [{"workspace_id": key[0], "client_id": key[1], "campaign_id": key[2], "status": key[3], "n": n}
                for key, n in _recounted(database, workspace_id).items()]
        for start in range(0, len(rows), 500):
            database.execute(PostCount.insert_many(rows[start:start + 500]))
    return len(rows)
