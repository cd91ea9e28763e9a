"""Engagement pushed through the API: one post at a time, or a batch of up to 1,000 items.

Every push appends a snapshot (the history is never overwritten). A batch is atomic per item:
each item is written in its own savepoint, so an invalid item is reported and skipped while the
valid ones are kept; they are committed together at the end of the request.
"""

from __future__ import annotations

from typing import Any

from .. import events
from ..db.models import Post, db, write_transaction
from ..errors import HeraldError, NotFound
from ..publishing.posts import POST_PREFIX, get_post, parse_id, record_engagement, serialize_engagement
from ..runtime import Runtime
from .history import current_engagement, engagement_rate, round_rate

MAX_BATCH = 1000
ITEM_SCHEMA = "intelligence_engagement"
SOURCE = "api"


def _post_id(value: Any, field: str = "post_id") -> int:
    return parse_id(value, POST_PREFIX, "post", field)


def result_for(post: Post, snapshot) -> dict:
    """The JSON answer for one recorded snapshot: the snapshot, its rate and the post's current totals."""
    totals, count = current_engagement([post.id]).get(post.id, (None, 0))
    return {"post_id": post.id, "engagement": serialize_engagement(snapshot),
            "engagement_rate": round_rate(engagement_rate(serialize_engagement(snapshot))),
            "current": {"metrics": totals, "engagement_rate": round_rate(engagement_rate(totals)),
                        "snapshots": count}}


def push(runtime: Runtime, workspace_id: int, payload: dict) -> dict:
    """Record one snapshot for ``payload["post_id"]`` (already validated); 404 for another workspace's post."""
    with events.collecting() as recorded, write_transaction():
        post = get_post(workspace_id, payload["post_id"])
        snapshot = record_engagement(post, payload, source=SOURCE)
    events.dispatch(runtime.pm, recorded)
    return result_for(post, snapshot)


def push_batch(runtime: Runtime, workspace_id: int, items: list) -> dict:
    """Record each valid item; returns per-item results (with ``index``) and the counts."""
    results: list[dict] = [{} for _ in items]
    wanted: dict[int, int] = {}
    for index, item in enumerate(items):
        try:
            runtime.schemas.validate(ITEM_SCHEMA, item)
            wanted[index] = _post_id(item["post_id"])
        except HeraldError as exc:
            results[index] = _failure(index, exc)
    with events.collecting() as recorded, write_transaction():
        ids = sorted(set(wanted.values()))
        posts = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            posts.update({post.id: post for post in
                          Post.select().where((Post.workspace == workspace_id) & Post.id.in_(chunk))})
        for index, post_id in wanted.items():
            try:
                post = posts.get(post_id)
                if post is None:
                    raise NotFound(f"No post {items[index]['post_id']!r} in this workspace.", field="post_id")
                with db.atomic():  # a savepoint: a failing item leaves nothing behind
                    snapshot = record_engagement(post, items[index], source=SOURCE)
                results[index] = {"index": index, "status": "created", "post_id": post.id,
                                  "engagement": serialize_engagement(snapshot),
                                  "engagement_rate": round_rate(engagement_rate(serialize_engagement(snapshot)))}
            except HeraldError as exc:
                results[index] = _failure(index, exc)
    events.dispatch(runtime.pm, recorded)
    failed = sum(1 for row in results if row["status"] == "error")
    return {"results": results, "succeeded": len(items) - failed, "failed": failed}


def _failure(index: int, exc: HeraldError) -> dict:
    return {"index": index, "status": "error", **exc.to_dict()}
