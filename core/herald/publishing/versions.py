"""Edit history of posts: listing versions and restoring one.

Every change a person or an API key makes to a post records a :class:`PostVersion` (see
:func:`herald.publishing.posts.record_version`): its number, who made it, when, and for each changed field
the value before and after. Status changes a worker makes while publishing (``publishing``,
``published``, ``failed``) are not edits and are not versioned; a post's tasks show them.

Restoring version *n* puts the editable fields back as they were right after version *n* and
records the restore as a new version (with ``restored_from`` = *n*); nothing is overwritten.
"""

from __future__ import annotations

from typing import Any

from .. import events, work
from ..db.models import Client, Media, Post, PostVersion, PublishTask, isoformat, write_transaction
from ..errors import Conflict, NotFound, ValidationError
from ..runtime import Runtime
from . import first_comments, tasks
from . import publish as publishing
from .editing import CONTENT_FIELDS, WAITING, ask_again, refuse_started
from .posts import VERSIONED_FIELDS, lock_post, record_version, serialize_post, snapshot
from .publish_work import KIND as PUBLISH

# What a restore puts back. Status, score and schedule are not content: the publishing API moves them.
EDITABLE_FIELDS = ("client_id", "topic", "caption", "first_comment", "variants", "post_type", "platforms", "media")


def serialize_version(version: PostVersion) -> dict[str, Any]:
    """The JSON shape of a version."""
    return {"number": version.number, "actor": version.actor, "created_at": isoformat(version.created_at),
            "restored_from": version.restored_from, "changes": version.changes}


def list_versions(post: Post) -> list[PostVersion]:
    """Every version of ``post``, oldest first."""
    return list(PostVersion.select().where(PostVersion.post == post).order_by(PostVersion.number))


def state_after(versions: list[PostVersion], number: int) -> dict[str, Any]:
    """The versioned fields as they were right after version ``number`` (``versions``: all of the post's,
    oldest first). A field no version up to ``number`` mentions had, then, the value the first later
    version that changes it started from; a field no version mentions at all is left out (unknown).
    """
    fields: dict[str, Any] = {}
    for version in versions:
        for name, change in (version.changes or {}).items():
            if name not in VERSIONED_FIELDS:
                continue
            if version.number <= number:
                fields[name] = change.get("after")
            elif name not in fields:
                fields[name] = change.get("before")
    return fields


def _restorable(workspace_id: int, post: Post, target: dict[str, Any], has_tasks: bool
                ) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The fields to change, and the ones left as they are with the reason."""
    changes: dict[str, Any] = {}
    kept: list[dict[str, str]] = []
    current = snapshot(post)
    for name in EDITABLE_FIELDS:
        if name not in target:
            continue
        value = target[name]
        if name in ("topic", "caption") and value is None:
            value = ""
        if name in ("platforms", "media"):
            value = list(value or [])
        if value == current[name]:
            continue
        if name == "platforms" and has_tasks:
            kept.append({"field": name, "reason": "The post is already queued for its accounts; where it goes "
                                                  "is decided by its tasks."})
            continue
        if name == "client_id" and value is not None and not Client.select().where(
                (Client.id == value) & (Client.workspace == workspace_id) & Client.deleted_at.is_null()).exists():
            kept.append({"field": name, "reason": f"Client {value} no longer exists or was archived."})
            continue
        if name == "media" and value:
            found = {row.id for row in Media.select(Media.id).where((Media.workspace == workspace_id)
                                                                    & Media.id.in_(value))}
            missing = [media_id for media_id in value if media_id not in found]
            if missing:
                kept.append({"field": name, "reason": f"Media {', '.join(map(str, missing))} no longer exists."})
                continue
        changes[name] = value
    return changes, kept


def restore(runtime: Runtime, principal, post: Post,
            number: int) -> tuple[Post, PostVersion | None, list[dict[str, str]]]:
    """Put back the editable fields of version ``number`` of ``post``.

    Returns the post, the version recording the restore (None when nothing differed) and the fields
    left as they are, each with its reason. 404 for an unknown version; 409 once the post is
    published or publishing, or when a platform it is queued for cannot take the restored content.
    """
    with events.collecting() as recorded, write_transaction():
        post = lock_post(post.id)
        versions = list_versions(post)
        if number not in {version.number for version in versions}:
            raise NotFound(f"post_{post.id} has no version {number}; GET /api/posts/{post.id}/versions lists them.",
                           field="number")
        task_rows = list(PublishTask.select().where(PublishTask.post == post))
        refuse_started(post, task_rows, "its content")
        changes, kept = _restorable(post.workspace_id, post, state_after(versions, number), bool(task_rows))
        waiting = list(dict.fromkeys(row.platform for row in task_rows if row.status in WAITING))
        if waiting and changes.keys() & {"caption", "post_type", "media", "first_comment", "variants"}:
            try:
                publishing.check_content(runtime, post.workspace_id, waiting,
                                         caption=changes.get("caption", post.caption),
                                         post_type=changes.get("post_type", post.post_type),
                                         media_ids=changes.get("media", list(post.media or [])), fit=post.fit,
                                         post_variants=changes.get("variants", post.variants))
                first_comments.check_request(runtime, waiting, changes.get("post_type", post.post_type),
                                             changes.get("first_comment", post.first_comment))
            except ValidationError as exc:
                raise Conflict(f"Version {number} cannot be restored while post_{post.id} is queued for "
                               f"{', '.join(waiting)}: {exc.message}", field=exc.field) from None
        before = snapshot(post)
        for name, value in changes.items():
            setattr(post, "client" if name == "client_id" else name, value)
        version, dropped = None, []
        if changes:
            asked = False
            if changes.keys() & set(CONTENT_FIELDS):
                asked, dropped = ask_again(runtime, post, [row for row in task_rows if row.status in WAITING],
                                           [])
            post.updated_at = runtime.clock.now()
            post.save()
            if task_rows:
                tasks.refresh_post(post.id, runtime.clock.now())
                post = Post.get_by_id(post.id)
            version = record_version(post, principal.label, before, restored_from=number)
            events.record(post.workspace_id, "post.updated", {"post": serialize_post(post, shape="v1")})
            if asked:
                events.record(post.workspace_id, "approval.requested", {"post": serialize_post(post, shape="v1")})
    events.dispatch(runtime.pm, recorded)
    for task_id, step in dropped:
        work.drop_job(runtime, PUBLISH, task_id, step)
    return post, version, kept
