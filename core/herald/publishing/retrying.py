"""Retry a post's failed tasks (``POST /v1/posts/{post_id}/retry``), never sending blind.

Only a ``failed`` task goes again. One that ended failed while an earlier attempt may be live
(``maybe_live``) keeps what it saved and goes again *unsure*: the platform's ``reconcile`` runs before
anything is sent, so a post that went out is found rather than sent twice; on a platform without
``reconcile`` it is not retried at all. An ``unconfirmed`` task is the user's to settle
(``…/tasks/{task_id}/resolve``), and every other status has nothing to retry. The answer says, task by
task, what was queued and why the rest was not.
"""

from __future__ import annotations

from .. import events, work
from ..capabilities import provided
from ..db.models import Post, PublishTask, write_transaction
from ..errors import ValidationError
from ..runtime import Runtime
from . import posts, tasks
from . import publish as publishing
from .posts import lock_post, record_version, serialize_post, snapshot


def _account_ids(post: Post, payload: dict) -> set[int] | None:
    """The accounts ``payload`` names (``acc_1``), each one the post goes to; None for all of them."""
    if "accounts" not in payload:
        return None
    wanted = {posts.parse_id(value, "acc_", "account", "accounts") for value in payload["accounts"]}
    known = {row.account_id for row in PublishTask.select(PublishTask.account_id).where(PublishTask.post == post)}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValidationError(f"post_{post.id} does not go to {', '.join(f'acc_{n}' for n in unknown)}.",
                              field="accounts")
    return wanted


def _why_not(runtime: Runtime, task: PublishTask) -> str | None:
    """Why ``task`` is not retried, or None when it is."""
    if task.status == tasks.UNCONFIRMED:
        return "Its outcome is unknown: " + tasks.resolve_hint(task)
    if task.status != tasks.FAILED:
        return f"It is {task.status}: only a failed task is retried."
    registered = runtime.registry.platforms.get(task.platform)
    if registered is None:
        return f"The {task.platform} plugin is not installed on this server any more."
    if task.maybe_live and provided(registered.obj, "reconcile") is None:
        return (f"An earlier attempt may have reached {task.platform}, and its plugin cannot check whether it "
                "did: look at the account before publishing it again.")
    return None


def retry(runtime: Runtime, principal, post: Post, payload: dict) -> tuple[Post, list[PublishTask], list[dict]]:
    """Queue the post's failed tasks again (those of ``payload["accounts"]`` when given); returns the post
    as it now is, the tasks queued and, for each other task, ``{"task", "account", "status", "reason"}``."""
    wanted = _account_ids(post, payload)
    queued: list[PublishTask] = []
    skipped: list[dict] = []
    with events.collecting() as recorded, write_transaction():
        post = lock_post(post.id)
        before = snapshot(post)
        rows = PublishTask.select().where(PublishTask.post == post).order_by(PublishTask.id)
        for task in rows:
            if wanted is not None and task.account_id not in wanted:
                continue
            reason = _why_not(runtime, task)
            # A task that may be live keeps its state and stays unsure: reconcile runs before any send.
            moved = reason is None and work.move(
                runtime, work.kind(runtime, tasks.KIND_NAME), task, status=tasks.QUEUED, due_at=runtime.clock.now(),
                attempts=0, error=None, **({} if task.maybe_live else {"state": {}}))
            if moved:
                queued.append(task)
            else:
                skipped.append({"task": f"task_{task.id}", "account": f"acc_{task.account_id}", "status": task.status,
                                "reason": reason or "A worker holds it right now; try again in a moment."})
        if queued:
            tasks.refresh_post(post.id, runtime.clock.now())
            post = Post.get_by_id(post.id)
            record_version(post, principal.label, before)
            events.record(post.workspace_id, "post.updated", {"post": serialize_post(post, shape="v1")})
    events.dispatch(runtime.pm, recorded)
    for task in queued:
        publishing.enqueue_task(runtime, task)
    return post, queued, skipped
