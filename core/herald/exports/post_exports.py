"""Exports of posts: the posts CSV and a client's JSON export, both produced a batch at a time.

Rows are read by id in batches of :data:`BATCH` (keyset pagination, so every batch is one indexed
query) and each batch's related rows (latest engagement, versions, tasks) are fetched with one
query per kind: the cost does not grow with one query per post, and memory holds one batch.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import peewee as pw

from ..db import post_counts
from ..db.models import Account, Client, EngagementSnapshot, Post, PostVersion, PublishTask, db, isoformat
from ..publishing.accounts import serialize_account
from ..publishing.posts import serialize_engagement, serialize_post
from ..publishing.tasks import first_comments_of, serialize_task
from ..publishing.versions import serialize_version
from .rows import selected_as_moment

BATCH = 500
# Tuples, not models: a bigger batch costs little memory and saves round trips. The 1/50 client of 1M posts
# (19,909 rows) in a fresh worker on PostgreSQL, 2026-12-07: 350-360 ms in batches of 2,000, 296-339 in
# 4,000; the 200,620 rows of the big client 2.0 s (100k rows a second).
CSV_BATCH = 4000
METRICS = ("likes", "comments", "saves", "shares", "reach")
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


def _latest_snapshot_id():
    """The id of the newest snapshot (by ``recorded_at``, then id, as :func:`latest_by_post` picks it) of
    the post of the outer query: a correlated subquery served by the index on ``engagement_snapshot.post_id``."""
    snapshot = EngagementSnapshot.alias()
    return (snapshot.select(snapshot.id).where(snapshot.post == Post.id)
            .order_by(snapshot.recorded_at.desc(), snapshot.id.desc()).limit(1))


def _with_newest_figures(query: pw.ModelSelect, postgres: bool) -> tuple[pw.ModelSelect, list]:
    """``query`` (over ``Post``) joined to each post's newest snapshot, and the :data:`METRICS` columns to
    select from it (NULL for a post without one).

    On PostgreSQL a ``LATERAL`` subquery reads the figures at the end of one backward walk of the index
    on (post, recorded_at, id); SQLite has no ``LATERAL``, so it joins the snapshot by the id a correlated
    subquery finds there (one more primary-key lookup a row: 246 -> 212 ms of reads for the 1/50 client's
    19,909 rows at 1M posts on PostgreSQL, warm)."""
    if postgres:
        snapshot = EngagementSnapshot.alias()
        newest = (snapshot.select(*(getattr(snapshot, name) for name in METRICS)).where(snapshot.post == Post.id)
                  .order_by(snapshot.recorded_at.desc(), snapshot.id.desc()).limit(1)).alias("newest")
        return query.join(newest, pw.JOIN.LEFT_LATERAL), [getattr(newest.c, name) for name in METRICS]
    return (query.join(EngagementSnapshot, pw.JOIN.LEFT_OUTER, on=(EngagementSnapshot.id == _latest_snapshot_id())),
            [getattr(EngagementSnapshot, name) for name in METRICS])


def post_csv_batches(workspace_id: int, client_id: int | None = None,
                     batch: int = CSV_BATCH) -> Iterator[list[Sequence]]:
    """The posts CSV, a batch at a time, each batch as its columns (:data:`POST_COLUMNS`, one value per
    post, as :func:`herald.exports.csvsafe.csv_batches` takes them); engagement is the latest snapshot
    (empty when none).

    One query per batch of posts, keyset on ``post.id``, joining each post's newest snapshot
    (:func:`_with_newest_figures`), read as the driver's tuples (no model objects, no ``IN`` list of ids:
    9 s for a 20k-post client before), and turned into CSV values a column at a time (the platforms of a
    batch are a handful of distinct JSON texts, each read once; the database writes the times as the
    API does, :func:`.rows.selected_as_moment`), never back into rows. On PostgreSQL the next batch is
    read while one is converted (:func:`_read_ahead`).
    """
    postgres = isinstance(db.obj, pw.PostgresqlDatabase)
    query, figures = _with_newest_figures(Post.select().where(Post.workspace == workspace_id), postgres)
    query = query.select(Post.id, Post.client, Post.topic, Post.caption, Post.post_type, Post.platforms, Post.status,
                         Post.score, *figures,
                         *(selected_as_moment(field, db.obj) for field in (Post.scheduled_at, Post.published_at,
                                                                            Post.created_at)))
    # Ordered by the column fixed by equality, then id: the order of the index that finds the rows
    # (post(client_id, id), post(workspace_id, id)). By id alone, PostgreSQL may walk the primary key and
    # filter out every other client's posts, the random heap reads of the right index costing more in its
    # estimate (seen for the 1/5 client at 250k posts; the 1/50 client's 20k rows took 3.7 s at 1M).
    order = (Post.client, Post.id) if client_id is not None else (Post.workspace, Post.id)
    if client_id is not None:
        query = query.where(Post.client == client_id)

    def read(last: int) -> list[tuple]:
        return db.execute(query.where(Post.id > last).order_by(*order).limit(batch)).fetchall()

    for rows in (_read_ahead if postgres else _keyset)(read, batch):
        columns = list(zip(*rows, strict=True))
        columns[5] = _platform_lists(columns[5])
        yield columns


def _keyset(read: Callable[[int], list[tuple]], batch: int) -> Iterator[list[tuple]]:
    """The batches ``read(last id)`` gives, each after the last id of the one before, until one is short."""
    last = 0
    while True:
        rows = read(last)
        if rows:
            yield rows
        if len(rows) < batch:
            return
        last = rows[-1][0]


def _read_ahead(read: Callable[[int], list[tuple]], batch: int) -> Iterator[list[tuple]]:
    """:func:`_keyset`'s batches, each read by a second thread (with its own connection) while the caller
    converts the one before: on PostgreSQL the server's work and this process's overlap instead of taking
    turns (a batch is one statement either way, so nothing a reader sees changes). On SQLite the reads are
    this process's own CPU, and a second thread only added to it."""
    def apart(last: int) -> list[tuple]:
        with db.connection_context():  # the thread's own connection, back to the pool after
            return read(last)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="herald-posts-csv") as reader:
        pending = reader.submit(apart, 0)
        while True:
            rows = pending.result()
            if len(rows) == batch:
                pending = reader.submit(apart, rows[-1][0])
            if rows:
                yield rows
            if len(rows) < batch:
                return


def _platform_lists(column: Sequence) -> Sequence[str]:
    """``instagram, facebook`` for each stored platforms value of a column (JSON text, or PostgreSQL's
    list, or NULL): a batch holds a handful of distinct texts, each read once."""
    if set(map(type, column)) <= {str}:
        texts = {value: ", ".join(json.loads(value) or []) for value in set(column)}
        return list(map(texts.__getitem__, column))
    return [", ".join((json.loads(value) if isinstance(value, str) else value) or []) for value in column]


def count_posts(workspace_id: int, client_id: int | None = None) -> int:
    """How many posts the workspace (or one client) has: the counters the database keeps
    (:func:`herald.db.post_counts.total`), not a count of the rows (157 ms for a 20k-post client of 1M on
    PostgreSQL, a quarter of its CSV job)."""
    return post_counts.total(workspace_id, client_id=client_id)


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
