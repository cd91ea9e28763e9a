"""Stored per-post insights: a post's caption features and current engagement, computed once.

The intelligence reads (memory, hooks, patterns, the learned scorer, audit and report) start from a
client's newest posts with their caption features and current engagement. Extracting features and
ranking engagement snapshots on every request cost most of their time, so each post's are kept in
``post_insight`` (:class:`herald.db.models.PostInsight`). A stored row says what it was computed from:
a digest of the caption (with :data:`FEATURES_VERSION`, so a change of the extractor invalidates every
row) and the id of the post's newest snapshot. Reading walks the client's newest posts through the
post table and compares both with the live values: a row that is missing or stale is computed again
for that post alone and stored (first need), so a write anywhere (an edit, a restore, engagement
pulled, pushed or inserted by hand) is seen at the next read without every writer having to say so.
:func:`rebuild` computes every row again (``herald derived rebuild intelligence``); migration 0031 fills the
table for existing posts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import peewee as pw

from ..captions import features as feats
from ..db.models import EngagementSnapshot, Post, PostInsight, db, write_transaction
from ..publishing.engagement_figures import PUSHED_SOURCES

INTERACTIONS = ("likes", "comments", "saves", "shares")
TOTALS = INTERACTIONS + ("reach",)
FEATURES_VERSION = "1"  # raise when herald.captions.features changes what it extracts
FEATURE_FIELDS = tuple(field.name for field in dataclasses.fields(feats.Features))
BATCH = 500  # IN lists and upserts kept small for the databases
EXCLUDED_STATUSES = ("cancelled", "rejected")  # never reached an audience


class StoredPost(NamedTuple):
    """One post as the walk reads it: live post fields, stored features and engagement (a named tuple:
    thousands are made per read)."""

    post_id: int
    topic: str
    post_type: str
    platforms: tuple[str, ...]
    status: str
    score: float | None
    campaign_id: int | None
    when: dt.datetime  # naive UTC: published, else scheduled, else created
    features: feats.Features
    keywords: frozenset[str]
    metrics: dict[str, int] | None
    snapshots: int
    caption: str


def digest(caption: str) -> str:
    """What a stored row's features were computed from: the caption and :data:`FEATURES_VERSION`."""
    return hashlib.blake2b(f"{FEATURES_VERSION}\0{caption}".encode(), digest_size=16).hexdigest()


def keywords(caption: str) -> frozenset[str]:
    """The caption's distinct significant words (:func:`herald.captions.features.significant_words`)."""
    return frozenset(feats.significant_words(caption))


def current_engagement(post_ids: list[int]) -> dict[int, tuple[dict[str, int], int]]:
    """For each post with engagement: ``(summed newest snapshot per source, number of snapshots)``.

    The database picks the newest snapshot of each (post, source) and counts the post's snapshots,
    so only those rows are read, however long the history (the scheduled pull adds one every few hours).
    """
    snapshot = EngagementSnapshot
    source = pw.Case(None, [(snapshot.source.in_(sorted(PUSHED_SOURCES)), "pushed")], snapshot.source)
    rank = pw.fn.ROW_NUMBER().over(partition_by=[snapshot.post, source],
                                   order_by=[snapshot.recorded_at.desc(), snapshot.id.desc()])
    count = pw.fn.COUNT(snapshot.id).over(partition_by=[snapshot.post])
    result: dict[int, tuple[dict[str, int], int]] = {}
    for start in range(0, len(post_ids), BATCH):
        ranked = (snapshot.select(snapshot.post, *(getattr(snapshot, name) for name in TOTALS),
                                  rank.alias("rank"), count.alias("snapshots"))
                  .where(snapshot.post.in_(post_ids[start:start + BATCH])))
        newest = (snapshot.select(ranked.c.post_id, ranked.c.snapshots,
                                  *(getattr(ranked.c, name) for name in TOTALS))
                  .from_(ranked).where(ranked.c.rank == 1).dicts())
        for row in newest:
            totals, _ = result.get(row["post_id"], ({name: 0 for name in TOTALS}, 0))
            for name in TOTALS:
                totals[name] += row[name] or 0
            result[row["post_id"]] = (totals, row["snapshots"])
    return result


def _newest_snapshots(post_ids: list[int]) -> dict[int, int]:
    """The id of each post's newest engagement snapshot (posts without any are left out)."""
    newest: dict[int, int] = {}
    for start in range(0, len(post_ids), BATCH):
        query = (EngagementSnapshot.select(EngagementSnapshot.post, pw.fn.MAX(EngagementSnapshot.id))
                 .where(EngagementSnapshot.post.in_(post_ids[start:start + BATCH]))
                 .group_by(EngagementSnapshot.post).tuples())
        newest.update(query)
    return newest


def compute(posts: list[tuple[int, str]]) -> list[dict]:
    """The ``post_insight`` rows of ``posts`` (``(post_id, caption)`` pairs), computed from scratch."""
    ids = [post_id for post_id, _ in posts]
    engagement = current_engagement(ids)
    newest = _newest_snapshots(ids)
    rows = []
    for post_id, caption in posts:
        caption = caption or ""
        values = dict(vars(feats.extract(caption)))  # its fields (flat values: no deep copy as asdict makes)
        values["hashtags"] = " ".join(values["hashtags"])
        metrics, snapshots = engagement.get(post_id, (None, 0))
        rows.append({"post": post_id, "caption_digest": digest(caption), **values,
                     "keywords": " ".join(sorted(keywords(caption))),
                     "last_snapshot_id": newest.get(post_id), "snapshots": snapshots,
                     **{name: (metrics[name] if metrics else None) for name in TOTALS}})
    return rows


def store(rows: list[dict]) -> None:
    """Insert or replace ``rows`` (as :func:`compute` makes them) in ``post_insight``."""
    columns = [field for field in PostInsight._meta.sorted_fields if field.name != "post"]
    for start in range(0, len(rows), BATCH):
        with write_transaction():
            (PostInsight.insert_many(rows[start:start + BATCH])
             .on_conflict(conflict_target=[PostInsight.post], preserve=columns).execute())


def refresh(posts: list[tuple[int, str]]) -> list[dict]:
    """Compute and store the rows of ``posts`` (``(post_id, caption)`` pairs); returns them."""
    rows = compute(posts)
    if rows:
        store(rows)
    return rows


def rebuild(workspace_id: int | None = None, batch: int = 1000) -> int:
    """Compute every post's row again (of one workspace, or all); returns how many posts it did.

    Walks the posts by id in batches, each stored in its own transaction, so it can run beside traffic.
    """
    done, after = 0, 0
    while True:
        query = Post.select(Post.id, Post.caption).where(Post.id > after)
        if workspace_id is not None:
            query = query.where(Post.workspace == workspace_id)
        posts = list(query.order_by(Post.id).limit(batch).tuples())
        if not posts:
            return done
        refresh(posts)
        done += len(posts)
        after = posts[-1][0]


def _as_datetime(value) -> dt.datetime:
    """A raw COALESCE of stored times as a naive datetime (SQLite gives text, PostgreSQL a datetime)."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


INSIGHT_COLUMNS = ("caption_digest", *FEATURE_FIELDS, "keywords", "last_snapshot_id", "snapshots", *TOTALS)
POST_COLUMNS = ("id", "caption", "topic", "post_type", "platforms", "status", "score", "campaign_id", "when",
                "newest_snapshot")
_FIRST_FEATURE = len(POST_COLUMNS) + 1
_BOOLEAN_FEATURES = tuple(index for index, name in enumerate(FEATURE_FIELDS)
                          if name in ("has_question", "second_person"))
_HASHTAGS = FEATURE_FIELDS.index("hashtags")


def _read(workspace_id: int, client_id: int) -> pw.Expression:
    """The posts the intelligence reads of a client: its own, not cancelled or rejected."""
    return ((Post.workspace == workspace_id) & (Post.client == client_id)
            & Post.status.not_in(EXCLUDED_STATUSES))


def newest_ids(workspace_id: int, client_id: int, limit: int) -> list[int]:
    """The ids of the client's newest ``limit`` posts that :func:`walk` reads, newest first."""
    query = Post.select(Post.id).where(_read(workspace_id, client_id)).order_by(Post.id.desc()).limit(limit)
    return [post_id for (post_id,) in db.execute(query).fetchall()]


def _walk_query(workspace_id: int, client_id: int, limit: int, ids: list[int] | None = None) -> pw.Query:
    """The client's newest posts (not cancelled or rejected; of ``ids`` only, when given) with their stored
    row, if any."""
    # ``id + 0``: without it PostgreSQL may answer MAX(id) by walking the primary key backwards until a
    # row of the post turns up (seen at 2.9 ms a post when its statistics were stale); the sum keeps
    # it on the post_id index, which SQLite uses either way.
    newest = (EngagementSnapshot.select(pw.fn.MAX(EngagementSnapshot.id + 0))
              .where(EngagementSnapshot.post == Post.id))
    when = pw.fn.COALESCE(Post.published_at, Post.scheduled_at, Post.created_at)
    read = _read(workspace_id, client_id)
    return (Post.select(Post.id, Post.caption, Post.topic, Post.post_type, Post.platforms, Post.status, Post.score,
                        Post.campaign, when, newest,
                        *(getattr(PostInsight, name) for name in INSIGHT_COLUMNS))
            .join(PostInsight, pw.JOIN.LEFT_OUTER, on=(PostInsight.post == Post.id))
            .where(read if ids is None else read & Post.id.in_(ids))
            .order_by(Post.id.desc()).limit(limit))


def walk(workspace_id: int, client_id: int, limit: int, ids: list[int] | None = None) -> list[StoredPost]:
    """The client's newest ``limit`` posts (cancelled and rejected left out; of ``ids`` only, when given),
    newest first, from their stored rows; rows missing or stale are computed and stored first.

    The rows are read as the driver gives them, without making a model (or converting each value
    through its field) per row: at 5,000 posts that conversion cost more than the query.
    """
    rows = []
    for start in range(0, len(ids), BATCH) if ids is not None else [None]:
        chunk = None if start is None else ids[start:start + BATCH]
        rows += db.execute(_walk_query(workspace_id, client_id, limit, chunk)).fetchall()
    digest_at = len(POST_COLUMNS)
    newest_at = digest_at + INSIGHT_COLUMNS.index("last_snapshot_id")
    stale = [(row[0], row[1] or "") for row in rows
             if row[digest_at] != digest(row[1] or "") or row[newest_at] != row[digest_at - 1]]
    if stale:
        fresh = {row["post"]: row for row in refresh(stale)}
        rows = [row if row[0] not in fresh else (*row[:digest_at], *(fresh[row[0]][name] for name in INSIGHT_COLUMNS))
                for row in rows]
    return [_stored(row) for row in rows]


@functools.lru_cache(maxsize=256)
def _platforms(text: str | None) -> tuple[str, ...]:
    """A post's platforms from their stored JSON text (a few distinct values repeat across posts)."""
    return tuple(json.loads(text) or ()) if text else ()


def _stored(row: tuple) -> StoredPost:
    values = list(row[_FIRST_FEATURE:_FIRST_FEATURE + len(FEATURE_FIELDS)])
    values[_HASHTAGS] = tuple(values[_HASHTAGS].split())
    for index in _BOOLEAN_FEATURES:
        values[index] = bool(values[index])
    post_id, caption, topic, post_type, platforms, status, score, campaign_id, when, _ = row[:_FIRST_FEATURE - 1]
    keywords_text, _, snapshots, *metrics = row[_FIRST_FEATURE + len(FEATURE_FIELDS):]
    platforms = _platforms(platforms)
    return StoredPost(
        post_id=post_id, topic=topic or "", post_type=post_type, platforms=platforms, status=status,
        score=score, campaign_id=campaign_id, when=_as_datetime(when), features=feats.Features(*values),
        keywords=frozenset(keywords_text.split()),
        metrics=dict(zip(TOTALS, metrics, strict=True)) if snapshots > 0 else None,
        snapshots=snapshots, caption=caption or "")


def stored_rows(post_ids: Iterable[int]) -> Iterator[dict]:
    """The stored rows of ``post_ids`` as :func:`compute` makes them (for checks and tests)."""
    ids = list(post_ids)
    for start in range(0, len(ids), BATCH):
        query = PostInsight.select().where(PostInsight.post.in_(ids[start:start + BATCH])).dicts()
        yield from query

