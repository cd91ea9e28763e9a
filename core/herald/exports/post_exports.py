"""Exports of posts: the posts CSV and a client's JSON export, both produced a batch at a time.

Rows are read by id in batches of :data:`BATCH` (keyset pagination, so every batch is one indexed
query) and each batch's related rows (latest engagement, versions, tasks) are fetched with one
query per kind: the cost does not grow with one query per post, and memory holds one batch.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from ..db.models import Account, Client, EngagementSnapshot, Post, PostVersion, PublishTask, isoformat
from ..publishing.accounts import serialize_account
from ..publishing.engagement_figures import latest_figures_by_post
from ..publishing.posts import serialize_engagement, serialize_post
from ..publishing.tasks import first_comments_of, serialize_task
from ..publishing.versions import serialize_version

BATCH = 500
CSV_BATCH = 2000  # tuples, not models: a bigger batch costs little memory and saves round trips
METRICS = ("likes", "comments", "saves", "shares", "reach")
NO_FIGURES = (None,) * len(METRICS)
POST_COLUMNS = ["id", "client_id", "topic", "caption", "type", "platforms", "status", "score", "likes", "comments",
                "saves", "shares", "reach", "scheduled_at", "published_at", "created_at"]


def post_batches(workspace_id: int, client_id: int | None = None, batch: int = BATCH) -> Iterator[list[Post]]:
    """The workspace's posts (of one client when given), oldest first, ``batch`` at a time."""
    last = 0
    while True:
        query = Post.select().where((Post.workspace == workspace_id) & (Post.id > last))
        if client_id is not None:
            query = query.where(Post.client == client_id)
        rows = list(query.order_by(Post.id).limit(batch))
        if not rows:
            return
        yield rows
        last = rows[-1].id


def post_tuple_batches(workspace_id: int, columns, client_id: int | None = None,
                       batch: int = CSV_BATCH) -> Iterator[list[tuple]]:
    """:func:`post_batches` as tuples of ``columns`` (the first must be ``Post.id``): no model objects."""
    last = 0
    while True:
        query = Post.select(*columns).where((Post.workspace == workspace_id) & (Post.id > last))
        if client_id is not None:
            query = query.where(Post.client == client_id)
        rows = list(query.order_by(Post.id).limit(batch).tuples())
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def post_csv_rows(workspace_id: int, client_id: int | None = None) -> Iterator[list]:
    """One row per post in :data:`POST_COLUMNS` order; engagement is the latest snapshot (empty when none)."""
    columns = (Post.id, Post.client, Post.topic, Post.caption, Post.post_type, Post.platforms, Post.status, Post.score,
               Post.scheduled_at, Post.published_at, Post.created_at)
    for rows in post_tuple_batches(workspace_id, columns, client_id):
        engagement = latest_figures_by_post((row[0] for row in rows), METRICS)
        for post_id, client, topic, caption, post_type, platforms, status, score, scheduled, published, created in rows:
            yield [post_id, client, topic, caption, post_type, ", ".join(platforms or []), status, score,
                   *engagement.get(post_id, NO_FIGURES), isoformat(scheduled), isoformat(published), isoformat(created)]


def count_posts(workspace_id: int, client_id: int | None = None, limit: int | None = None) -> int:
    """How many posts the workspace (or one client) has, counting no further than ``limit`` when given
    (so asking "more than the limit?" costs the limit, not the workspace)."""
    query = Post.select(Post.id).where(Post.workspace == workspace_id)
    if client_id is not None:
        query = query.where(Post.client == client_id)
    if limit is not None:
        query = query.limit(limit)
    return query.count()


def _grouped(rows, key) -> dict[int, list]:
    grouped: dict[int, list] = {}
    for row in rows:
        grouped.setdefault(key(row), []).append(row)
    return grouped


def _post_documents(workspace_id: int, client_id: int, account_ids: set[int]) -> Iterator[dict]:
    """Each post of the client with its versions, engagement history and tasks."""
    for rows in post_batches(workspace_id, client_id):
        ids = [post.id for post in rows]
        versions = _grouped(PostVersion.select().where(PostVersion.post.in_(ids))
                            .order_by(PostVersion.post, PostVersion.number), lambda row: row.post_id)
        engagement = _grouped(EngagementSnapshot.select().where(EngagementSnapshot.post.in_(ids))
                              .order_by(EngagementSnapshot.recorded_at, EngagementSnapshot.id), lambda row: row.post_id)
        tasks = _grouped(PublishTask.select().where(PublishTask.post.in_(ids)).order_by(PublishTask.id),
                         lambda row: row.post_id)
        comments = first_comments_of([task for post_tasks in tasks.values() for task in post_tasks])
        for post in rows:
            document = serialize_post(post, shape="action")
            document["versions"] = [serialize_version(row) for row in versions.get(post.id, [])]
            document["engagement"] = [serialize_engagement(row) for row in engagement.get(post.id, [])]
            document["tasks"] = [serialize_task(row, comments) for row in tasks.get(post.id, [])]
            account_ids.update(row.account_id for row in tasks.get(post.id, []))
            yield document


def client_export(workspace_id: int, client: Client, client_shape: dict, exported_at: dt.datetime) -> Iterator[str]:
    """The JSON text of a client's export, in pieces: the client, its posts, the accounts its tasks used.
    ``exported_at`` is the runtime clock's time of the request.

    Access tokens are never part of it (accounts appear as the ``/v1`` API shows them).
    """
    account_ids: set[int] = set()
    head = {"exported_at": isoformat(exported_at), "client": client_shape}
    yield json.dumps(head)[:-1] + ', "posts": ['
    for index, document in enumerate(_post_documents(workspace_id, client.id, account_ids)):
        yield ("," if index else "") + json.dumps(document)
    accounts = (Account.select().where((Account.workspace == workspace_id) & Account.id.in_(sorted(account_ids)))
                .order_by(Account.id)) if account_ids else []
    yield '], "accounts": ' + json.dumps([serialize_account(row) for row in accounts]) + "}"
