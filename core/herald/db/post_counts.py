"""``total`` of the post lists in O(1): sums of ``post_count`` rows, the number of posts per (workspace,
client, campaign, status) that triggers on ``post`` keep in the writing transaction (migration 0026), so
every write path counts, the ones written later included.

A list filtered by something the counters do not hold (the platform of a post's tasks) counts exactly
with an index-bounded COUNT instead (:func:`herald.db.paging.exact_total`): ``total`` is exact either way.

:func:`drift` recounts every post and names the counters that differ (``herald counters check``, and the
suite after random mixes of writes); :func:`rebuild` sets them from a recount (``herald counters rebuild``,
and ``herald cron``'s daily :func:`herald.chores.repair_post_counts` when drift is found).
"""

from __future__ import annotations

import peewee as pw

from .models import Post, PostCount, db

NONE = 0  # the client_id / campaign_id of a post without one


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


def _recounted() -> dict[tuple, int]:
    """Every post counted now, by (workspace, client, campaign, status)."""
    client = pw.fn.COALESCE(Post.client, NONE)
    campaign = pw.fn.COALESCE(Post.campaign, NONE)
    query = (Post.select(Post.workspace, client, campaign, Post.status, pw.fn.COUNT(Post.id))
             .group_by(Post.workspace, client, campaign, Post.status))
    return {tuple(row[:4]): row[4] for row in query.tuples()}


def _stored() -> dict[tuple, int]:
    """The counters as stored, zeros left out."""
    query = PostCount.select(PostCount.workspace_id, PostCount.client_id, PostCount.campaign_id, PostCount.status,
                             PostCount.n).where(PostCount.n != 0)
    return {tuple(row[:4]): row[4] for row in query.tuples()}


def drift() -> list[dict]:
    """The counters that differ from a recount of the posts (empty when all are exact), each as
    ``{"workspace_id", "client_id", "campaign_id", "status", "stored", "counted"}``. Read in one
    transaction, so that concurrent writes cannot show as drift."""
    with db.atomic():
        counted, stored = _recounted(), _stored()
    keys = ("workspace_id", "client_id", "campaign_id", "status")
    return [dict(zip(keys, key, strict=True), stored=stored.get(key, 0), counted=counted.get(key, 0))
            for key in sorted(counted.keys() | stored.keys(), key=str)
            if stored.get(key, 0) != counted.get(key, 0)]


def rebuild() -> int:
    """Set every counter from a recount of the posts, in one transaction that holds off post writes
    meanwhile (PostgreSQL: a SHARE lock on ``post``; SQLite: the write transaction). Returns the number
    of counter rows written."""
    with db.atomic():
        if isinstance(db.obj, pw.PostgresqlDatabase):
            db.execute_sql("LOCK TABLE post IN SHARE MODE")
        PostCount.delete().execute()
        rows = [{"workspace_id": key[0], "client_id": key[1], "campaign_id": key[2], "status": key[3], "n": n}
                for key, n in _recounted().items()]
        for start in range(0, len(rows), 500):
            PostCount.insert_many(rows[start:start + 500]).execute()
    return len(rows)
