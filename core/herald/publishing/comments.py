"""Comments on posts: the client writes them in the portal, the agency reads and answers them through the
API (``GET`` / ``POST /v1/posts/{id}/comments``); the portal page shows the conversation."""

from __future__ import annotations

import datetime as dt

from .. import events
from ..db.models import Post, PostComment, isoformat, write_transaction
from ..errors import ValidationError
from ..runtime import Runtime

MAX_LENGTH = 5000
COMMENT = "comment"
REJECTION = "rejection"  # the reason given when a post was rejected in the portal
CLIENT = "client"  # written in the portal
AGENCY = "agency"  # written through the API, by a key or a person of the workspace


class EmptyBody(ValidationError):
    """400: the comment (or rejection reason) has nothing in it once stripped."""


class BodyTooLong(ValidationError):
    """400: the comment (or rejection reason) is longer than :data:`MAX_LENGTH` characters."""


def clean_body(text: str | None, field: str = "body") -> str:
    """The comment text, stripped; 400 naming ``field`` when it is empty or longer than 5,000 characters."""
    body = (text or "").replace("\r\n", "\n").strip()
    if not body:
        raise EmptyBody("Write something first.", field=field)
    if len(body) > MAX_LENGTH:
        raise BodyTooLong(f"Keep it under {MAX_LENGTH} characters (this is {len(body)}).", field=field)
    return body


def add_comment(runtime: Runtime, post: Post, author: str, body: str, portal_token_id: int | None = None,
                kind: str = COMMENT, author_kind: str = CLIENT) -> PostComment:
    """Store a comment and emit ``post.commented`` (a rejection reason is carried by ``post.rejected``).

    ``author_kind`` is ``client`` (the portal) or ``agency`` (the API); the event's comment says which.
    """
    body = clean_body(body)
    with events.collecting() as recorded, write_transaction():
        comment = insert_comment(post, author, body, runtime.clock.now(), portal_token_id, kind, author_kind)
    events.dispatch(runtime.pm, recorded)
    return comment


def insert_comment(post: Post, author: str, body: str, now: dt.datetime, portal_token_id: int | None = None,
                   kind: str = COMMENT, author_kind: str = CLIENT) -> PostComment:
    """Store a comment made at ``now`` (the runtime's clock) inside the caller's transaction, recording
    ``post.commented`` for a plain comment.

    ``body`` is already cleaned (:func:`clean_body`, before the transaction opens). The caller collects
    and dispatches the events after its commit (see :mod:`herald.events`).
    """
    comment = PostComment.create(post=post.id, author=author[:200], body=body, kind=kind,
                                 portal_token=portal_token_id, author_kind=author_kind, created_at=now)
    if kind == COMMENT:
        events.record(post.workspace_id, "post.commented",
                      {"post_id": f"post_{post.id}", "comment": serialize_comment(comment)})
    return comment


def comments_of(post_ids: list[int]) -> dict[int, list[PostComment]]:
    """The comments of each post in ``post_ids``, oldest first."""
    found: dict[int, list[PostComment]] = {post_id: [] for post_id in post_ids}
    if not post_ids:
        return found
    rows = PostComment.select().where(PostComment.post.in_(post_ids)).order_by(PostComment.created_at, PostComment.id)
    for row in rows:
        found[row.post_id].append(row)
    return found


def serialize_comment(comment: PostComment) -> dict:
    """The JSON shape of a comment."""
    return {"id": f"comment_{comment.id}", "post_id": f"post_{comment.post_id}", "kind": comment.kind,
            "author": comment.author, "author_kind": comment.author_kind, "body": comment.body,
            "portal_link_id": comment.portal_token_id,
            "created_at": isoformat(comment.created_at)}
