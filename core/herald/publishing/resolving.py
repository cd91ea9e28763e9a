"""A user settles an ``unconfirmed`` task: the post is live (with the platform's post id), or it is
not and Herald sends it again (``POST /v1/posts/{post_id}/tasks/{task_id}/resolve``).

Herald never decides this itself: a task ends ``unconfirmed`` only when an earlier attempt may be
live and the platform cannot say (see :mod:`herald.publishing.tasks`). Only the user, having looked at the
account, can tell; each answer is recorded as a version of the post and announced like the
transitions a worker makes (``publish.completed`` with ``resolved_by``, ``post.updated``).
"""

from __future__ import annotations

from .. import events
from ..db.models import Post, PublishTask, write_transaction
from ..errors import Conflict, NotFound, ValidationError
from ..runtime import Runtime
from . import first_comments, posts, tasks
from . import publish as publishing
from .posts import lock_post, record_version, serialize_post, snapshot

TASK_PREFIX = "task_"
PUBLISHED = "published"
SEND_AGAIN = "send_again"


def get_task(post: Post, value) -> PublishTask:
    """The post's task ``value`` (``task_7`` or ``7``); 404 naming ``task_id`` otherwise."""
    number = posts.parse_id(value, TASK_PREFIX, "task", "task_id")
    task = PublishTask.get_or_none((PublishTask.id == number) & (PublishTask.post == post.id))
    if task is None:
        raise NotFound(f"No task {value!r} on post_{post.id}.", field="task_id")
    return task


def resolve(runtime: Runtime, principal, post: Post, task_value, payload: dict) -> Post:
    """Settle the ``unconfirmed`` task as the user says (``payload`` as ``schemas/v1_task_resolve.json``);
    409 when the task is not ``unconfirmed``. Returns the post as it now is."""
    outcome = payload["outcome"]
    if outcome == SEND_AGAIN:
        for name in ("platform_post_id", "url"):
            if name in payload:
                raise ValidationError(f"{name} goes with outcome published only: a post sent again has no id yet.",
                                      field=name)
    with events.collecting() as recorded, write_transaction():
        post = lock_post(post.id)
        task = get_task(post, task_value)
        if task.status != tasks.UNCONFIRMED:
            raise Conflict(f"{TASK_PREFIX}{task.id} is {task.status}; only an unconfirmed task can be resolved.",
                           field="task_id")
        before = snapshot(post)
        if outcome == PUBLISHED:
            tasks.settle_published(runtime, task, post, payload["platform_post_id"], payload.get("url"),
                                   extra={"resolved_by": principal.label})
        else:
            tasks.requeue(runtime, task, post)
        post = Post.get_by_id(post.id)
        record_version(post, principal.label, before)
        events.record(post.workspace_id, "post.updated", {"post": serialize_post(post, shape="v1")})
    events.dispatch(runtime.pm, recorded)
    if outcome == PUBLISHED:
        first_comments.enqueue(runtime, task)
    elif outcome == SEND_AGAIN:
        publishing.enqueue_task(runtime, task)
    return post
