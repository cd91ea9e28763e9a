"""Approvals: a client (or an admin) approves or rejects a post before it is published.

Two roads lead to ``pending_approval``:

- a post sent to publishing in a workspace with ``require_approval``: its tasks wait
  (``pending_approval``); approving queues them, rejecting cancels them;
- a draft sent for review with ``POST /v1/posts/{id}/request-approval``, before it has accounts or a
  schedule: approving makes it ``approved`` (publishing it later does not ask again), rejecting makes
  it ``rejected``. A rejected post can be edited and sent for approval again; one that had tasks gets
  them back, waiting for approval.

Both fire ``approval.requested``, then ``post.approved`` or ``post.rejected``; every step is a version.
The portal's buttons and the API's endpoints run the same functions.
"""

from __future__ import annotations

from .. import events, work
from ..db.models import Post, PublishTask, write_transaction
from ..errors import Conflict, Forbidden, warning
from ..runtime import Runtime
from . import tasks
from .editing import refuse_started
from .posts import lock_post, record_version, serialize_post, snapshot
from .publish import APPROVED, enqueue_post_tasks
from .publish_work import KIND as PUBLISH

REJECTED = "rejected"
# What a post may be in when it is sent for approval.
REQUESTABLE = ("draft", REJECTED)


def require_approver(principal) -> None:
    """Approving needs the ``publish`` scope (API keys) or the owner/admin role (people)."""
    if principal.kind == "session" and principal.role not in ("owner", "admin"):
        raise Forbidden(f"Your role ({principal.role}) cannot approve or reject posts; an admin or owner can.")
    principal.require("publish")


def request_approval(runtime: Runtime, principal, post: Post, note: str = "") -> tuple[Post, list[dict]]:
    """Put a draft (or a rejected post) in ``pending_approval`` and fire ``approval.requested``; returns the
    post and warnings. 409 for a post that is anything else; asking again for one already waiting changes
    nothing."""
    warnings: list[dict] = []
    with events.collecting() as recorded, write_transaction():
        post = lock_post(post.id)
        if post.status == tasks.PENDING_APPROVAL:
            return post, warnings
        if post.status not in REQUESTABLE:
            raise Conflict(f"post_{post.id} is {post.status}; only a draft or a rejected post can be sent for "
                           "approval.")
        rows = list(PublishTask.select().where(PublishTask.post == post))
        refuse_started(post, rows, "its approval")
        before = snapshot(post)
        now = runtime.clock.now()
        for row in rows:  # a rejected post's cancelled tasks wait for the new decision
            work.move(runtime, PUBLISH, row, status=tasks.PENDING_APPROVAL, due_at=max(row.due_at or now, now),
                      attempts=0, state={}, error=None)
        post.status = tasks.PENDING_APPROVAL
        post.updated_at = now
        post.save(only=[Post.status, Post.updated_at])
        record_version(post, principal.label, before)
        events.record(post.workspace_id, "approval.requested",
                      {"post": serialize_post(post, shape="v1"), "by": principal.label, "note": note or None})
    events.dispatch(runtime.pm, recorded)
    if post.client_id is None:
        warnings.append(warning("no_client", f"post_{post.id} has no client, so no client portal shows it; approve it "
                                f"with POST /v1/posts/post_{post.id}/approve."))
    return post, warnings


def review(runtime: Runtime, principal, post: Post, approve: bool, note: str = "") -> Post:
    """Approve (release the tasks, or approve the draft) or reject a post waiting for approval; the post as
    it now is."""
    with events.collecting() as recorded, write_transaction():
        post = apply_review(runtime, principal, post, approve, note)
    events.dispatch(runtime.pm, recorded)
    if approve:
        enqueue_post_tasks(runtime, post)
    return post


def apply_review(runtime: Runtime, principal, post: Post, approve: bool, note: str = "") -> Post:
    """:func:`review`'s changes, inside the caller's write transaction; returns the post as it now is.

    The caller dispatches the events it collected after its commit and, for an approval, enqueues the
    post's tasks (:func:`herald.publishing.publish.enqueue_post_tasks`) then, as :func:`review` does.
    """
    require_approver(principal)
    post = lock_post(post.id)
    if post.status != tasks.PENDING_APPROVAL:
        raise Conflict(f"post_{post.id} is {post.status}, not waiting for approval.")
    before = snapshot(post)
    now = runtime.clock.now()
    waiting = (PublishTask.post == post) & (PublishTask.status == tasks.PENDING_APPROVAL)
    held = list(PublishTask.select().where(waiting))
    if approve and held:  # no job waits for a task pending approval: the caller enqueues each once this commits
        for task in held:
            work.move(runtime, PUBLISH, task, status=tasks.QUEUED, due_at=max(task.due_at or now, now))
        tasks.refresh_post(post.id, now)
    elif approve:  # a draft: approved now, published when someone publishes it
        Post.update(status=APPROVED, updated_at=now).where(Post.id == post.id).execute()
    else:
        work.cancel(runtime, PUBLISH, waiting)
        Post.update(status=REJECTED, updated_at=now).where(Post.id == post.id).execute()
    post = Post.get_by_id(post.id)
    record_version(post, principal.label, before)
    events.record(post.workspace_id, "post.approved" if approve else "post.rejected",
                  {"post": serialize_post(post, shape="v1"), "by": principal.label, "note": note or None})
    return post
