"""Editing a post: its text, media, first comment, type, accounts, schedule and campaign, as one change.

``PATCH /v1/posts/{id}`` and the ``update_post`` action both end in :func:`edit`. ``variants`` (each
platform's own text and options, :mod:`.variants`) is content like the rest. One request is one
transaction and one version (who, when, each field before and after), and fires ``post.updated``.

What can change depends on how far the post got:

- a draft (no tasks) or a post waiting for approval or in the queue: everything, as long as none of
  its tasks has *started*; a draft chooses its accounts when it is published, so ``accounts`` and
  ``schedule`` need a post that was queued;
- a post whose tasks all failed (and none may be live) or a rejected one: its content, which a retry
  (``POST /v1/posts/{id}/retry``) or a new request for approval then sends;
- once a task has started (publishing, retrying, published, unconfirmed, or failed while it may be
  live): nothing; 409 ``conflict`` names those tasks.

Content that changes after approval needs approval again: an ``approved`` draft goes back to ``draft``,
and in a workspace with ``require_approval`` a queued post goes back to ``pending_approval`` (its jobs
are dropped until someone approves it). The answer carries a warning saying so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import events, work
from ..captions import heuristic
from ..db.models import Account, Client, Post, PublishTask, Workspace, write_transaction
from ..errors import Conflict, ValidationError, warning
from ..runtime import Runtime
from . import first_comments, schedule, slots, tasks, variants
from . import publish as publishing
from .campaigns import campaign_for_post
from .posts import check_media, lock_post, platform_names, record_version, resolve_media, serialize_post, snapshot
from .publish_work import KIND as PUBLISH

# Fields whose change is a change of what the audience sees (and so of what was approved).
CONTENT_FIELDS = ("caption", "media", "post_type", "first_comment", "variants", "platforms", "fit")
# Tasks that are intentions only: nothing was sent for them yet.
WAITING = (tasks.PENDING_APPROVAL, tasks.QUEUED)
APPROVED = publishing.APPROVED


@dataclasses.dataclass
class Edit:
    """What one request changes; a field left out is not changed.

    ``values`` holds the post's own fields (``caption``, ``topic``, ``first_comment``, ``post_type``,
    ``media`` as ids, ``platforms``, ``campaign`` as a row or None); ``accounts`` the accounts the post
    goes to from now on; ``when`` its new schedule.
    """

    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    accounts: list[Account] | None = None
    when: schedule.Schedule | None = None
    next_slot: bool = False  # "schedule": "next_slot": the client's first free posting slot, taken under its lock

    @property
    def moves(self) -> bool:
        """Whether the change moves the post in time."""
        return self.when is not None or self.next_slot


@dataclasses.dataclass
class Edited:
    """What :func:`edit` did: the post as it now is, its schedule when it moved, and warnings."""

    post: Post
    when: schedule.Schedule | None
    warnings: list[dict]


def started(task: PublishTask) -> bool:
    """Whether something may have been sent for ``task``: it is past waiting, or it waits again after an
    attempt (a retry), or it failed while an earlier attempt may be live."""
    if task.status == tasks.PENDING_APPROVAL:
        return False
    if task.status == tasks.QUEUED:
        return bool(task.attempts or task.state or task.maybe_live)
    if task.status in (tasks.CANCELLED, tasks.FAILED):
        return bool(task.maybe_live)
    return True


def refuse_started(post: Post, rows: list[PublishTask], what: str) -> None:
    """409 naming the tasks of ``post`` that have started (see :func:`started`): ``what`` cannot change."""
    begun = [row for row in rows if started(row)]
    if not begun:
        return
    named = "; ".join(f"task_{row.id} ({row.platform}, acc_{row.account_id}) is {_state(row)}" for row in begun)
    if any(row.status == tasks.PUBLISHED for row in begun):
        reason = "is already published on at least one account"
    elif any(row.status == tasks.UNCONFIRMED or row.maybe_live for row in begun):
        reason = "may already be live on an account"
    else:
        reason = "is being published right now"
    raise Conflict(f"post_{post.id} {reason}, so {what} can no longer change: {named}.")


def _state(row: PublishTask) -> str:
    if row.status == tasks.FAILED:
        return "failed, and an earlier attempt may be live"
    if row.status == tasks.QUEUED:
        return "queued again after an attempt"
    return row.status


def edit(runtime: Runtime, principal, post: Post, change: Edit) -> Edited:
    """Apply ``change`` to ``post`` in one transaction (see the module's rules); 409 when the post got too
    far for it, 400 when a platform it goes to could not publish the new content."""
    warnings: list[dict] = []
    dropped: list[tuple[int, int]] = []
    client = Client.get_or_none(Client.id == post.client_id) if change.next_slot and post.client_id else None
    with events.collecting() as recorded, write_transaction():
        if change.next_slot:
            slots.lock_clients([client])  # before the post's lock, as publishing does
        post = lock_post(post.id)
        rows = list(PublishTask.select().where(PublishTask.post == post).order_by(PublishTask.id))
        refuse_started(post, rows, "it")
        if post.status == tasks.CANCELLED:
            raise Conflict(f"post_{post.id} was cancelled; create a new post instead.")
        waiting = [row for row in rows if row.status in WAITING]
        _check_targets(post, rows, waiting, change)
        before = snapshot(post)
        accounts_before = [f"acc_{row.account_id}" for row in rows]
        if change.accounts is not None:
            waiting, removed = _retarget(runtime, post, rows, waiting, change)
            dropped += removed
        if change.next_slot:
            change.when = slots.take(client, [row.account for row in waiting], runtime.clock.now(),
                                     exclude_post=post.id)
        if change.when is not None:
            dropped += _move(runtime, post, waiting, change.when)
        _set_fields(post, change.values)
        targets = list(dict.fromkeys(row.platform for row in waiting))
        _check_content(runtime, post, rows, targets, change)
        content_changed = any(before.get(name) != value for name, value in snapshot(post).items()
                              if name in CONTENT_FIELDS) or (change.accounts is not None and [
                                  f"acc_{account.id}" for account in change.accounts] != accounts_before)
        asked = False
        if content_changed:
            asked, jobs = ask_again(runtime, post, waiting, warnings)
            dropped += jobs
        post.updated_at = runtime.clock.now()
        post.save()
        if rows or change.accounts:  # a draft's status is its own: its tasks do not make it
            tasks.refresh_post(post.id, runtime.clock.now())
        post = Post.get_by_id(post.id)
        if asked:
            events.record(post.workspace_id, "approval.requested", {"post": serialize_post(post, shape="v1")})
        accounts_after = [f"acc_{row.account_id}" for row in PublishTask.select(PublishTask.account)
                          .where(PublishTask.post == post).order_by(PublishTask.id)]
        extra = {"accounts": {"before": accounts_before, "after": accounts_after}} \
            if accounts_after != accounts_before else None
        if record_version(post, principal.label, before, extra_changes=extra):
            events.record(post.workspace_id, "post.updated", {"post": serialize_post(post, shape="v1")})
    events.dispatch(runtime.pm, recorded)
    for task_id, step in dropped:
        work.drop_job(runtime, PUBLISH, task_id, step)
    publishing.enqueue_post_tasks(runtime, post)
    if change.when is not None:
        warnings += publishing.token_expiry_warnings(runtime, publishing.post_accounts(post), change.when.at,
                                                     "schedule")
    return Edited(post, change.when, warnings)


def _check_targets(post: Post, rows: list[PublishTask], waiting: list[PublishTask], change: Edit) -> None:
    """409 for a change of where or when the post goes that its state does not allow."""
    if not rows:
        if change.accounts is not None:
            raise Conflict(f"post_{post.id} is a draft: choose its accounts when you publish it (POST /v1/publish "
                           f"with post_id).", field="accounts")
        if change.moves:
            raise Conflict(f"post_{post.id} is a draft; publish it with POST /v1/publish and a schedule.",
                           field="schedule")
        return
    if "platforms" in change.values and list(change.values["platforms"]) != list(post.platforms or []):
        raise Conflict(f"post_{post.id} is queued for its accounts, which decide where it goes; change them with "
                       "accounts (PATCH /v1/posts/{post_id}).", field="platforms")
    if (change.accounts is not None or change.moves) and not waiting:
        field = "accounts" if change.accounts is not None else "schedule"
        raise Conflict(f"post_{post.id} is {post.status}: nothing of it waits to be published. Retry it (POST "
                       f"/v1/posts/post_{post.id}/retry) or publish a new post.", field=field)


def _move(runtime: Runtime, post: Post, waiting: list[PublishTask], when: schedule.Schedule) -> list[tuple[int, int]]:
    """Move the waiting tasks (and so their jobs) to ``when``; the old jobs to drop after the commit."""
    old = [(row.id, row.step) for row in waiting]
    for row in waiting:
        if not work.move(runtime, PUBLISH, row, due_at=when.at):
            raise Conflict(f"post_{post.id} has just started publishing; it cannot be rescheduled.", field="schedule")
    post.scheduled_at = None if when.now else when.at
    return old


def _retarget(runtime: Runtime, post: Post, rows: list[PublishTask], waiting: list[PublishTask],
              change: Edit) -> tuple[list[PublishTask], list[tuple[int, int]]]:
    """Give the post a task for each of ``change.accounts`` and none for the others (none of them started);
    returns the waiting tasks as they now are and the jobs to drop after the commit."""
    chosen = change.accounts or []
    wanted = {account.id for account in chosen}
    removed = [row for row in rows if row.account_id not in wanted]
    if removed:
        PublishTask.delete().where(PublishTask.id.in_([row.id for row in removed])).execute()
    kept = {row.account_id: row for row in rows if row.account_id in wanted}
    status = tasks.PENDING_APPROVAL if any(row.status == tasks.PENDING_APPROVAL for row in waiting) else tasks.QUEUED
    now = runtime.clock.now()
    due = change.when.at if change.when is not None else next(
        (row.due_at for row in waiting if row.due_at is not None), post.scheduled_at or now)
    for account in chosen:
        if account.id not in kept:
            kept[account.id] = PublishTask.create(workspace=post.workspace_id, post=post, account=account,
                                                  platform=account.platform, status=status, due_at=due,
                                                  created_at=now, updated_at=now)
    post.platforms = list(dict.fromkeys(account.platform for account in chosen))
    waiting = [kept[account.id] for account in chosen if kept[account.id].status in WAITING]
    return waiting, [(row.id, row.step) for row in removed]


def _set_fields(post: Post, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name == "campaign":
            post.campaign = value
        else:
            setattr(post, name, value)
    if "caption" in values or "platforms" in values:
        post.score = heuristic.quick_value(post.caption, list(post.platforms or []))


def _check_content(runtime: Runtime, post: Post, rows: list[PublishTask], targets: list[str], change: Edit) -> None:
    """400 when a platform the post is queued for could never publish it as it now is; a draft's platforms
    are only asked whether they have its post type (its media may come later)."""
    if not rows:
        for name in post.platforms or []:
            registered = runtime.registry.platforms.get(name)
            if registered is not None and post.post_type not in registered.obj.post_types:
                raise ValidationError(f"{name} does not support post_type {post.post_type!r}; it supports "
                                      f"{', '.join(registered.obj.post_types)}.", field="post_type")
        return
    if not targets or not (change.values.keys() & set(CONTENT_FIELDS) or change.accounts is not None):
        return
    installed = [name for name in targets if name in runtime.registry.platforms]
    publishing.check_content(runtime, post.workspace_id, installed, caption=post.caption, post_type=post.post_type,
                             media_ids=list(post.media or []), fit=post.fit, post_variants=post.variants)
    first_comments.check_request(runtime, installed, post.post_type, post.first_comment)


def ask_again(runtime: Runtime, post: Post, waiting: list[PublishTask],
               warnings: list[dict]) -> tuple[bool, list[tuple[int, int]]]:
    """Content changed: an approval given before it no longer holds. Returns whether the post waits for
    approval again (the caller fires ``approval.requested``) and the jobs to drop."""
    if post.status == APPROVED:
        post.status = "draft"
        warnings.append(warning("approval_withdrawn", f"post_{post.id} was approved before this change; it is a "
                                "draft again. Ask for approval again (POST /v1/posts/{post_id}/request-approval).",
                                None))
        return False, []
    queued = [row for row in waiting if row.status == tasks.QUEUED]
    settings = Workspace.select(Workspace.settings).where(Workspace.id == post.workspace_id).get().settings or {}
    if not queued or not settings.get("require_approval"):
        return False, []
    old = [(row.id, row.step) for row in queued]
    for row in queued:
        if not work.move(runtime, PUBLISH, row, status=tasks.PENDING_APPROVAL):
            raise Conflict(f"post_{post.id} has just started publishing; it can no longer change.")
    warnings.append(warning("approval_requested", f"This workspace requires approval: post_{post.id} changed, so "
                            "it waits for approval again before it is published.", None))
    return True, old


def from_v1(runtime: Runtime, post: Post, payload: dict) -> Edit:
    """The change a ``PATCH /v1/posts/{id}`` body asks for, with what it names resolved and checked
    (media, accounts, campaign, schedule in the client's zone); nothing is written."""
    workspace_id = post.workspace_id
    change = Edit()
    if "content" in payload:
        change.values["caption"] = payload["content"]
    for name in ("first_comment", "post_type", "fit"):
        if name in payload:
            change.values[name] = payload[name]
    if "variants" in payload:
        change.values["variants"] = variants.parse(runtime, payload["variants"])
    if "media" in payload:
        change.values["media"] = [row.id for row in resolve_media(workspace_id, payload["media"])]
    if "campaign_id" in payload:
        change.values["campaign"] = campaign_for_post(workspace_id, payload["campaign_id"], post.client_id)
    if "accounts" in payload:
        change.accounts = publishing.resolve_accounts(runtime, workspace_id, payload["accounts"])
    if slots.asks_for_slot(payload.get("schedule")):
        change.next_slot = True
    elif "schedule" in payload:
        workspace = Workspace.get_by_id(workspace_id)
        client = Client.get_or_none(Client.id == post.client_id) if post.client_id else None
        change.when = schedule.parse(payload["schedule"], publishing.default_zone(workspace, client),
                                     runtime.clock.now())
    return change


def from_action(ctx, post: Post, payload: dict) -> Edit:
    """The change an ``update_post`` action asks for (``caption``, ``topic``, ``post_type``, ``platforms``,
    ``media``, ``variants``, ``campaign_id``), checked as ``create_post`` checks them; nothing is written.
    Changing a post already queued for accounts needs the ``publish`` scope, as ``PATCH /v1/posts/{id}`` does."""
    if PublishTask.select().where(PublishTask.post == post).exists():
        ctx.principal.require("publish")
    change = Edit()
    for name in ("caption", "topic", "post_type"):
        if name in payload:
            change.values[name] = payload[name]
    if "platforms" in payload:
        platforms = platform_names(payload["platforms"])
        ctx.check_platforms(platforms)
        change.values["platforms"] = platforms
    if "variants" in payload:
        change.values["variants"] = variants.parse(ctx.runtime, payload["variants"])
    if "media" in payload:
        change.values["media"] = check_media(post.workspace_id, payload["media"])
    if "campaign_id" in payload:
        change.values["campaign"] = campaign_for_post(post.workspace_id, payload["campaign_id"], post.client_id)
    return change
