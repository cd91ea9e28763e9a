"""Publishing posts: one task per (post, account), scheduling, cancelling, approvals.

The ``/v1`` API and the ``create_post`` action share one data model: a draft made by the action
is published by naming it (``post_id``) in ``POST /v1/publish``. Every change is committed before
its jobs are enqueued; if Redis is down at that moment, the reconciler enqueues them later.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from .. import events, work
from ..captions import heuristic
from ..db.models import (
    Account,
    Campaign,
    Client,
    Media,
    Post,
    PublishTask,
    Workspace,
    isoformat,
    write_transaction,
)
from ..errors import Conflict, HeraldError, NotFound, ValidationError, warning
from ..media import url_import
from ..media.public_links import public_base_problem
from ..platforms import PostRef
from ..plugins import check_enabled
from ..runtime import Runtime
from . import accounts, first_comments, fitting, schedule, slots, tasks, variants
from .campaigns import campaign_for_post
from .posts import (
    create_post,
    get_post,
    lock_post,
    media_ref,
    platform_names,
    record_version,
    resolve_media,
    serialize_post,
    snapshot,
)
from .publish_work import KIND as PUBLISH

log = logging.getLogger("herald.publishing.publish")

APPROVED = "approved"  # a draft the client approved before it was queued (see herald.publishing.approvals)


def resolve_accounts(runtime: Runtime, workspace_id: int, ids: list[str]) -> list[Account]:
    """The workspace's accounts ``ids`` (``acc_1``), each active, with a live token and its platform's plugin
    installed and enabled; 400/404/403 naming ``accounts.N`` otherwise."""
    found = []
    for index, value in enumerate(ids):
        field = f"accounts.{index}"
        account = accounts.get_account(workspace_id, value, field=field)
        if account.status != "active":
            raise ValidationError(f"{value} (@{account.username} on {account.platform}) is {account.status}: "
                                  f"{account.status_reason or 'its token no longer works'} Reconnect it with "
                                  "POST /v1/accounts first.", field=field)
        if accounts.token_expired(account, runtime.clock.now()):
            raise ValidationError(f"{value} (@{account.username} on {account.platform}): its access token expired "
                                  f"at {isoformat(account.token_expires_at)}. Reconnect it with POST /v1/accounts "
                                  "first.", field=field)
        registered = runtime.registry.platforms.get(account.platform)
        if registered is None:
            raise ValidationError(f"{value} is on {account.platform}, whose plugin is not installed.", field=field)
        check_enabled(runtime.registry, workspace_id, registered.plugin, f"The {account.platform} platform")
        found.append(account)
    return found


def _check_platforms(runtime: Runtime, platforms: list[str] | None,
                     chosen: list[Account]) -> tuple[list[str], list[dict]]:
    """The post's platforms, and warnings for listed platforms that no given account is on."""
    names = list(dict.fromkeys(account.platform for account in chosen))
    if platforms is None:
        return names, []
    for index, name in enumerate(platforms):
        if name not in runtime.registry.platforms:
            available = ", ".join(sorted(runtime.registry.platforms)) or "none installed"
            raise ValidationError(f"Unknown platform {name!r}. Available: {available}.",
                                  field="platforms" if len(platforms) == 1 else f"platforms.{index}")
    for index, account in enumerate(chosen):
        if account.platform not in platforms:
            raise ValidationError(f"acc_{account.id} is a {account.platform} account, but platforms lists only "
                                  f"{', '.join(platforms)}.", field=f"accounts.{index}")
    warnings = [warning("no_account_for_platform",
                        f"No {name} account is among accounts, so nothing will be published on {name}.",
                        "platforms" if len(platforms) == 1 else f"platforms.{index}")
                for index, name in enumerate(platforms) if name not in names]
    return platforms, warnings


def token_expiry_warnings(runtime: Runtime, chosen: list[Account], due: dt.datetime,
                          field: str | None = None) -> list[dict]:
    """Warnings for the accounts whose access token expires before ``due`` (naive UTC).

    Their tasks would fail at the due time, so the caller hears it now, while there is time to reconnect.
    Each names ``field``, or else the account's place in the request's ``accounts``.
    """
    return [warning("token_expires_before_due",
                    f"acc_{account.id} (@{account.username}): its access token expires at "
                    f"{isoformat(account.token_expires_at)}, before this post is due ({isoformat(due)}). "
                    + accounts.what_to_do_before_expiry(runtime, account, "reconnect it with POST /v1/accounts "
                                                                        "before then, or its task will fail."),
                    field or f"accounts.{index}")
            for index, account in enumerate(chosen)
            if accounts.token_expired(account, due)]


def post_accounts(post: Post) -> list[Account]:
    """The accounts ``post`` has a task for."""
    return list(Account.select().join(PublishTask, on=(PublishTask.account == Account.id))
                .where(PublishTask.post == post.id).order_by(PublishTask.id))


def _infer_post_type(media: list[Media]) -> str:
    return "carousel" if len(media) > 1 else "post"


def _check_post_types(runtime: Runtime, post_type: str, platforms: list[str]) -> None:
    for name in platforms:
        supported = runtime.registry.platforms[name].obj.post_types
        if post_type not in supported:
            raise ValidationError(f"{name} does not support post_type {post_type!r}; it supports "
                                  f"{', '.join(supported)}.", field="post_type")


def default_zone(workspace: Workspace, client: Client | None) -> str:
    """The IANA zone name a client's times are read and shown in: the client's own, else the workspace's
    ``timezone`` setting, else UTC."""
    if client is not None and client.timezone:
        return client.timezone
    return (workspace.settings or {}).get("timezone") or "UTC"


@dataclasses.dataclass
class PreparedPost:
    """A publish request that passed every check (see :func:`prepare`), ready to be written."""

    workspace_id: int
    chosen: list[Account]
    platforms: list[str]
    media: list[Media]
    draft: Post | None
    client: Client | None
    campaign: Campaign | None
    post_type: str
    caption: str
    first_comment: str | None
    when: schedule.Schedule
    needs_approval: bool
    status: str
    now: dt.datetime
    warnings: list[dict]
    fit: str | None = None  # "pad": images outside a platform's aspect ratios are padded for it
    variants: dict | None = None  # per platform: its own text and options (herald.publishing.variants)
    verdicts: dict[str, fitting.Verdict] = dataclasses.field(default_factory=dict)  # per platform: renditions


def publish(runtime: Runtime, principal, payload: dict) -> tuple[Post, schedule.Schedule, list[dict]]:
    """Queue a post (new content, or the draft ``post_id``) for the given accounts.

    Returns the post, how its schedule was read and warnings for the caller. Jobs are enqueued
    after the commit. Media given as URLs are downloaded and recorded first, outside any transaction.
    """
    if payload.get("media"):
        payload = {**payload, "media": url_import.import_urls(runtime.config, principal.workspace_id, payload["media"])}
    [published] = _write_all(runtime, principal, [prepare(runtime, principal, payload)], labels=None)
    return published


def publish_many(runtime: Runtime, principal, payloads: list[dict],
                 labels: list[str]) -> list[tuple[Post, schedule.Schedule, list[dict]]]:
    """:func:`publish` for several posts, all or none: every one is checked before any is written,
    then all are written in one transaction. Errors and warnings name their post by its label
    (``posts.3`` in a JSON batch, ``rows.5`` in a spreadsheet)."""
    return _write_all(runtime, principal, prepare_all(runtime, principal, payloads, labels), labels=labels)


def prepare_all(runtime: Runtime, principal, payloads: list[dict], labels: list[str]) -> list[PreparedPost]:
    """:func:`prepare` for each post of a batch (what a batch's dry run answers): errors and warnings name
    their post by its label."""
    prepared = [naming_post(label, prepare, runtime, principal, payload)
                for label, payload in zip(labels, payloads, strict=True)]
    for label, item in zip(labels, prepared, strict=True):
        for entry in item.warnings:
            entry["field"] = f"{label}.{entry['field']}" if entry.get("field") else label
    return prepared


def _write_all(runtime: Runtime, principal, prepared: list[PreparedPost], *, labels: list[str] | None):
    """Make the renditions the platforms need, write ``prepared`` in one transaction, then dispatch their
    events and enqueue their tasks. With ``labels`` (a batch), an error found while writing names its post."""
    for index, item in enumerate(prepared):  # before the write lock: converting an image takes a moment
        if labels:
            naming_post(labels[index], fitting.make_renditions, runtime, item.media, item.verdicts)
        else:
            fitting.make_renditions(runtime, item.media, item.verdicts)
    with events.collecting() as recorded, write_transaction():
        slots.lock_clients(item.client for item in prepared if item.when.slot)  # before any post's lock
        posts = [naming_post(labels[index], write, principal, item) if labels else write(principal, item)
                 for index, item in enumerate(prepared)]
    events.dispatch(runtime.pm, recorded)
    for post, item in zip(posts, prepared, strict=True):
        if not item.needs_approval:
            enqueue_post_tasks(runtime, post)
    return [(post, item.when, item.warnings) for post, item in zip(posts, prepared, strict=True)]


def naming_post(label: str, step, *args):
    """``step(*args)`` for one post of a batch: the field of its error moves under ``label``
    (``posts.3``, ``rows.5``)."""
    try:
        return step(*args)
    except HeraldError as exc:
        exc.field = f"{label}.{exc.field}" if exc.field else label
        raise


def dry_run(runtime: Runtime, principal, payload: dict) -> PreparedPost:
    """:func:`prepare` for ``"dry_run": true``: media URLs are downloaded and checked like an import but
    nothing is stored (each stands in as an unsaved media row whose ``source_url`` is the URL)."""
    values = payload.get("media") or []
    if not any(url_import.is_url(value) for value in values):
        return prepare(runtime, principal, payload)
    ids = [value for value in values if not url_import.is_url(value)]
    stored = iter(resolve_media(principal.workspace_id, ids))
    media = []
    for index, value in enumerate(values):
        if url_import.is_url(value):
            found = url_import.inspect_url(runtime.config, value, f"media.{index}")
            row = Media(workspace=principal.workspace_id, path="", **{key: item for key, item in found.items()
                                                                      if key != "url"})
            row.source_url = value
            media.append(row)
        else:
            media.append(next(stored))
    return prepare(runtime, principal, payload, media=media)


def prepare(runtime: Runtime, principal, payload: dict, *, media: list[Media] | None = None) -> PreparedPost:
    """Check a publish request (accounts, media, draft, schedule, what the platforms accept) and resolve
    what it names; raises the error to answer, or returns what :func:`write` needs. Writes nothing.
    ``media``: the request's media already resolved (see :func:`dry_run`)."""
    workspace_id = principal.workspace_id
    workspace = Workspace.get_by_id(workspace_id)
    chosen = resolve_accounts(runtime, workspace_id, payload["accounts"])
    listed = payload.get("platforms")
    platforms, warnings = _check_platforms(runtime, platform_names(listed) if listed is not None else None, chosen)
    if media is None:
        media = resolve_media(workspace_id, payload.get("media", []))
    draft = get_post(workspace_id, payload["post_id"]) if payload.get("post_id") is not None else None
    if draft is None and not payload.get("content"):
        raise ValidationError("content is required (or name a draft with post_id).", field="content")
    if draft is not None and not payload.get("media") and draft.media:
        media = resolve_media(workspace_id, draft.media)
    client = None
    if payload.get("client_id") is not None:
        client = Client.get_or_none((Client.id == int(payload["client_id"])) & (Client.workspace == workspace_id)
                                    & Client.deleted_at.is_null())
        if client is None:
            raise NotFound(f"No client {payload['client_id']} in this workspace.", field="client_id")
    elif draft is not None and draft.client_id:
        client = Client.get_or_none(Client.id == draft.client_id)
    campaign = campaign_for_post(workspace_id, payload.get("campaign_id"),
                                 client.id if client is not None else None)
    post_type = payload.get("post_type") or (draft.post_type if draft is not None and draft.post_type != "post"
                                             else _infer_post_type(media))
    targets = list(dict.fromkeys(account.platform for account in chosen))
    _check_post_types(runtime, post_type, targets)
    first_comments.check_request(runtime, targets, post_type, payload.get("first_comment"))
    if media:
        problem = public_base_problem(runtime.config)
        if problem:
            raise ValidationError(problem, field="media")
    caption = payload.get("content") if payload.get("content") is not None else draft.caption
    post_variants = (variants.parse(runtime, payload["variants"]) if "variants" in payload
                     else draft.variants if draft is not None else None)
    preview = PostRef(id=0, caption=caption, post_type=post_type,
                      media=tuple(media_ref(runtime, row, preview=True) for row in media))
    verdicts = fitting.check_platforms(runtime, targets, preview, payload.get("fit"), post_variants)
    warnings += fitting.verdict_warnings(verdicts)
    now = runtime.clock.now()
    value = payload.get("schedule", "now")
    when = (slots.next_free(client, chosen, now) if slots.asks_for_slot(value)
            else schedule.parse(value, default_zone(workspace, client), now))
    warnings += token_expiry_warnings(runtime, chosen, when.at)
    # A draft the client approved (POST /v1/posts/{id}/request-approval) is not asked about again.
    needs_approval = bool((workspace.settings or {}).get("require_approval")) and not (
        draft is not None and draft.status == APPROVED)
    status = tasks.PENDING_APPROVAL if needs_approval else tasks.QUEUED

    return PreparedPost(workspace_id=workspace_id, chosen=chosen, platforms=platforms, media=media, draft=draft,
                        client=client, campaign=campaign, post_type=post_type, caption=caption,
                        first_comment=payload.get("first_comment"), when=when,
                        needs_approval=needs_approval, status=status, now=now, warnings=warnings,
                        fit=payload.get("fit"), verdicts=verdicts, variants=post_variants)


def write(principal, prepared: PreparedPost) -> Post:
    """Write a prepared post, its tasks, version and events, inside the caller's write transaction."""
    draft, now = prepared.draft, prepared.now
    if prepared.when.slot:  # the free slot seen by prepare may be gone: take one under the client's lock
        prepared.when = slots.take(prepared.client, prepared.chosen, now)
    scheduled_at = None if prepared.when.now else prepared.when.at
    if draft is None:
        post = create_post(prepared.workspace_id, principal.label, client=prepared.client, topic="",
                           caption=prepared.caption, post_type=prepared.post_type, platforms=prepared.platforms,
                           media=[row.id for row in prepared.media], campaign=prepared.campaign,
                           status=prepared.status, first_comment=prepared.first_comment,
                           scheduled_at=scheduled_at, now=now, fit=prepared.fit, variants=prepared.variants)
    else:
        post = lock_post(draft.id)  # re-read inside the write lock
        if PublishTask.select().where(PublishTask.post == post).exists() or post.status not in ("draft", APPROVED):
            raise Conflict(f"post_{post.id} is {post.status}; only a draft (or an approved one) can be published "
                           "this way.", field="post_id")
        before = snapshot(post)
        post.caption = prepared.caption
        post.client = prepared.client
        if prepared.campaign is not None:
            post.campaign = prepared.campaign
        if post.caption != draft.caption or post.score is None:
            post.score = heuristic.quick_value(prepared.caption, prepared.platforms)
        post.first_comment = prepared.first_comment
        post.post_type = prepared.post_type
        post.fit = prepared.fit
        post.variants = prepared.variants
        post.platforms = prepared.platforms
        post.media = [row.id for row in prepared.media]
        post.scheduled_at = scheduled_at
        post.status = prepared.status
        post.updated_at = now
        post.save()
        record_version(post, principal.label, before)
        events.record(prepared.workspace_id, "post.updated", {"post": serialize_post(post, shape="v1")})
    for account in prepared.chosen:
        PublishTask.create(workspace=prepared.workspace_id, post=post, account=account, platform=account.platform,
                           status=prepared.status, due_at=prepared.when.at, created_at=now, updated_at=now)
    if prepared.needs_approval:
        events.record(prepared.workspace_id, "approval.requested", {"post": serialize_post(post, shape="v1")})
    return post


def check_content(runtime: Runtime, workspace_id: int, platforms: list[str], *, caption: str, post_type: str,
                  media_ids: list[int], fit: str | None = None, post_variants: dict | None = None) -> None:
    """400 when one of ``platforms`` could never publish this content (post type, caption, media).

    The checks ``publish`` runs before queueing, for content that changes after it was queued
    (a restored version, see :mod:`herald.publishing.versions`). Platforms whose plugin is gone are skipped.
    """
    installed = [name for name in platforms if name in runtime.registry.platforms]
    media = resolve_media(workspace_id, media_ids)
    _check_post_types(runtime, post_type, installed)
    if media:
        problem = public_base_problem(runtime.config)
        if problem:
            raise ValidationError(problem, field="media")
    preview = PostRef(id=0, caption=caption, post_type=post_type,
                      media=tuple(media_ref(runtime, row, preview=True) for row in media))
    fitting.check_platforms(runtime, installed, preview, fit, post_variants)


def enqueue_post_tasks(runtime: Runtime, post: Post) -> None:
    """Enqueue a job for each of the post's queued tasks (at its due time)."""
    for task in PublishTask.select().where((PublishTask.post == post) & (PublishTask.status == tasks.QUEUED)):
        enqueue_task(runtime, task)


def enqueue_task(runtime: Runtime, task: PublishTask) -> bool:
    """Enqueue the job of the task's current step (work kind ``publish``), at its due time by the
    runtime's clock; call it after the task's row committed."""
    return work.enqueue(runtime, PUBLISH, task)


def cancel(runtime: Runtime, principal, post: Post) -> None:
    """Cancel a post that has not been published; 409 once anything is published or publishing."""
    with events.collecting() as recorded, write_transaction():
        post = lock_post(post.id)
        rows = list(PublishTask.select(PublishTask.id, PublishTask.status).where(PublishTask.post == post))
        statuses = [row.status for row in rows]
        unconfirmed = [row.id for row in rows if row.status == tasks.UNCONFIRMED]
        if unconfirmed:
            raise Conflict(f"post_{post.id} may already be live on an account (unconfirmed): look for it on the "
                           f"platform, then settle it with POST /v1/posts/post_{post.id}/tasks/task_{unconfirmed[0]}"
                           "/resolve before cancelling.")
        if tasks.PUBLISHED in statuses:
            raise Conflict(f"post_{post.id} is already published on at least one account; published content "
                           "cannot be cancelled.")
        if tasks.PUBLISHING in statuses:
            raise Conflict(f"post_{post.id} is being published right now; it can no longer be cancelled.")
        if post.status in (tasks.CANCELLED, "rejected"):
            return
        before = snapshot(post)
        cancelled = tasks.cancel_tasks(runtime, post)
        if not statuses:  # a draft: nothing was queued, the post itself is cancelled
            Post.update(status=tasks.CANCELLED, updated_at=runtime.clock.now()).where(Post.id == post.id).execute()
        post = Post.get_by_id(post.id)
        record_version(post, principal.label, before)
        events.record(post.workspace_id, "post.updated", {"post": serialize_post(post, shape="v1")})
    events.dispatch(runtime.pm, recorded)
    for task_id, step in cancelled:
        work.drop_job(runtime, PUBLISH, task_id, step)
