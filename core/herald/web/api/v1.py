"""The ``/v1`` publishing API (the "Apionics" document): publish, posts, accounts, approvals."""

from flask import Blueprint, g, jsonify, redirect, request
from peewee import fn

from ...db import post_counts
from ...db.models import Account, Post, PublishTask
from ...db.paging import exact_total
from ...errors import UnsupportedMediaType, ValidationError
from ...publishing import accounts, approvals, editing, oauth_connect, posts, resolving, retrying, tasks
from ...publishing import csv_import as publish_csv_reader
from ...publishing import publish as publishing
from ...publishing.campaigns import get_campaign
from . import client_arg, endpoint, id_arg, id_query, int_query, paging, raw_body, runtime

bp = Blueprint("v1", __name__, url_prefix="/v1")

POST_STATUSES = ("draft", "pending_approval", "approved", "queued", "publishing", "published", "partially_published",
                 "failed", "unconfirmed", "cancelled", "rejected")


def _schedule_note(when) -> dict:
    note = {"now": when.now, "timezone": when.timezone}
    if when.slot:  # "next_slot": the time is one of the client's posting slots
        note["slot"] = True
    return note


def _post_with_tasks(post: Post) -> dict:
    data = posts.serialize_post(post, shape="v1")
    rows = list(PublishTask.select().where(PublishTask.post == post).order_by(PublishTask.id))
    comments = tasks.first_comments_of(rows)
    data["tasks"] = [tasks.serialize_task(row, comments) for row in rows]
    return data


@endpoint(bp, "/publish", ("POST",), summary="Queue content for one or more connected accounts", scope="publish",
          body="v1_publish", responses={201: "post_published", 200: "publish_dry_run"}, errors=(422,))
def publish(payload):
    """Create (or take the draft ``post_id``) and queue one task per account, now or at ``schedule``.
    With ``dry_run``: every check and warning, nothing created (200 with the post as it would be)."""
    if payload.get("dry_run"):
        return jsonify(_dry_run(publishing.dry_run(runtime(), g.principal, payload))), 200
    post, when, warnings = publishing.publish(runtime(), g.principal, payload)
    return jsonify(_published(post, when, warnings)), 201


@endpoint(bp, "/publish/batch", ("POST",), summary="Queue up to 100 posts at once, all or none", scope="publish",
          body="v1_publish_batch", responses={201: "posts_published", 200: "publish_batch_dry_run"})
def publish_batch(payload):
    """Check every post as ``POST /v1/publish`` would, then create them all in one transaction. An
    error names its post (``posts.3.schedule``) and nothing is created. With ``dry_run``: the checks
    and warnings of every post, nothing created."""
    items = payload["posts"]
    return _queue_batch(items, [f"posts.{index}" for index in range(len(items))], dry_run=payload.get("dry_run"))


@endpoint(bp, "/publish/csv", ("POST",), summary="Queue up to 100 posts from a spreadsheet (CSV), all or none",
          scope="publish", content_type="text/csv", responses={201: "posts_published"})
def publish_csv():
    """Read each row of a CSV file as a ``POST /v1/publish`` body (see :mod:`herald.publishing.csv_import`),
    then queue them as ``POST /v1/publish/batch`` does. An error names its row (``rows.3.schedule``)
    and nothing is created."""
    if request.mimetype not in ("text/csv", "application/csv"):
        raise UnsupportedMediaType("Send the spreadsheet as CSV with Content-Type: text/csv.")
    rows = publish_csv_reader.parse(raw_body())
    return _queue_batch([item for _, item in rows], [publish_csv_reader.row_label(row) for row, _ in rows])


def _queue_batch(items: list[dict], labels: list[str], dry_run: bool = False):
    """Check each ``POST /v1/publish`` body (errors named by its label), then queue them all or none
    (``dry_run``: answer what would be queued)."""
    for label, item in zip(labels, items, strict=True):
        publishing.naming_post(label, runtime().schemas.validate, "v1_publish", item)
        if item.get("dry_run") and not dry_run:
            raise ValidationError("dry_run applies to a whole batch: set it next to posts, not in one post.",
                                  field=f"{label}.dry_run")
    if dry_run:
        prepared = publishing.prepare_all(runtime(), g.principal, items, labels)
        return jsonify({"dry_run": True, "posts": [_dry_run(item) for item in prepared]}), 200
    created = publishing.publish_many(runtime(), g.principal, items, labels)
    return jsonify({"posts": [_published(post, when, warnings) for post, when, warnings in created]}), 201


def _dry_run(prepared: publishing.PreparedPost) -> dict:
    """What a dry run answers for a post that passed every check: the post and the tasks as they would
    be created, and the warnings."""
    at = publishing.isoformat(prepared.when.at)
    return {
        "dry_run": True,
        "post_id": f"{posts.POST_PREFIX}{prepared.draft.id}" if prepared.draft is not None else None,
        "content": prepared.caption, "first_comment": prepared.first_comment, "post_type": prepared.post_type,
        "platforms": prepared.platforms,
        "media": [f"{posts.MEDIA_PREFIX}{row.id}" if row.id is not None else row.source_url for row in prepared.media],
        "fit": prepared.fit, "client_id": prepared.client.id if prepared.client is not None else None,
        "campaign_id": prepared.campaign.id if prepared.campaign is not None else None,
        "scheduled_at": at, "schedule": _schedule_note(prepared.when),
        "tasks": [{"account_id": f"acc_{account.id}", "platform": account.platform, "status": prepared.status,
                   "scheduled_at": at} for account in prepared.chosen],
        "warnings": prepared.warnings,
    }


def _published(post: Post, when, warnings: list[dict]) -> dict:
    """What ``POST /v1/publish`` answers for ``post``."""
    body = _post_with_tasks(Post.get_by_id(post.id))
    body["scheduled_at"] = body["scheduled_at"] or publishing.isoformat(when.at)
    body["schedule"] = _schedule_note(when)
    if warnings:
        body["warnings"] = warnings
    return body


@endpoint(bp, "/posts", ("GET",), summary="List the workspace's posts with status, schedule and platforms",
          scope="posts:read",
          query=(("status", {"type": "string", "enum": list(POST_STATUSES)}, "filter by status"),
                 ("platform", "string", "filter by platform"),
                 id_query("client_id", "filter by client"), id_query("campaign_id", "filter by campaign"),
                 int_query("limit", 20, 1, 100), paging.cursor_query(posts.POST_PREFIX), paging.page_query()),
          responses={200: "post_page"})
def list_posts():
    """Newest first; ``total`` counts every match (from the post counters; with ``platform``, an exact
    count). Page with ``cursor`` (or ``page``, up to the first 10,000 posts)."""
    workspace_id = g.principal.workspace_id
    query = Post.select().where(Post.workspace == workspace_id)
    client = client_arg()
    if client is not None:
        query = query.where(Post.client == client.id)
    campaign_id = id_arg("campaign_id")
    campaign = get_campaign(workspace_id, campaign_id) if campaign_id is not None else None
    if campaign is not None:
        query = query.where(Post.campaign == campaign.id)
    status = request.args.get("status")
    if status:
        if status not in POST_STATUSES:
            raise ValidationError(f"status must be one of {', '.join(POST_STATUSES)}.", field="status")
        query = query.where(Post.status == status)
    platform = request.args.get("platform")
    if platform:
        on_platform = PublishTask.select(PublishTask.id).where((PublishTask.post == Post.id)
                                                               & (PublishTask.platform == platform.lower()))
        query = query.where(fn.EXISTS(on_platform))
        total = exact_total(query)
    else:
        total = post_counts.total(workspace_id, client_id=client.id if client is not None else None,
                                  campaign_id=campaign.id if campaign is not None else None, status=status or None)
    rows, next_cursor = paging.listed(query, Post.id, limit=(20, 100), prefix=posts.POST_PREFIX, skip="page")
    return jsonify({"posts": [posts.serialize_post(post, shape="v1") for post in rows], "total": total,
                    "next_cursor": next_cursor})


@endpoint(bp, "/posts/<post_id>", ("GET",), summary="A post with per-account task results", scope="posts:read",
          responses={200: "post_with_tasks"})
def get_post(post_id):
    """The post and its tasks (status, published_at, the platform's post id and URL, the error)."""
    return jsonify(_post_with_tasks(posts.get_post(g.principal.workspace_id, post_id)))


@endpoint(bp, "/posts/<post_id>", ("DELETE",), summary="Cancel a scheduled post (409 once anything is published)",
          scope="publish", responses={200: "success"})
def cancel_post(post_id):
    """Cancel every task that has not started."""
    post = posts.get_post(g.principal.workspace_id, post_id)
    publishing.cancel(runtime(), g.principal, post)
    return jsonify({"success": True})


@endpoint(bp, "/posts/<post_id>", ("PATCH",),
          summary="Edit a post that has not started publishing: content, media, first comment, type, accounts, "
                  "schedule, campaign", scope="publish", body="v1_post_update", responses={200: "post_with_tasks"})
def edit_post(post_id, payload):
    """One change, one version, ``post.updated``; 409 naming the tasks that have started once any has."""
    post = posts.get_post(g.principal.workspace_id, post_id)
    edited = editing.edit(runtime(), g.principal, post, editing.from_v1(runtime(), post, payload))
    body = _post_with_tasks(edited.post)
    if edited.when is not None:
        body["schedule"] = _schedule_note(edited.when)
    if edited.warnings:
        body["warnings"] = edited.warnings
    return jsonify(body)


@endpoint(bp, "/posts/<post_id>/request-approval", ("POST",), scope="posts:write", body="v1_review",
          summary="Send a draft (or a rejected post) for the client's approval, before it has accounts or a schedule",
          responses={200: "post_with_tasks"})
def request_approval(post_id, payload):
    """The post in ``pending_approval`` (``approval.requested``); the client portal shows it to approve."""
    post = posts.get_post(g.principal.workspace_id, post_id)
    post, warnings = approvals.request_approval(runtime(), g.principal, post, payload.get("note", ""))
    body = _post_with_tasks(Post.get_by_id(post.id))
    if warnings:
        body["warnings"] = warnings
    return jsonify(body)


@endpoint(bp, "/posts/<post_id>/approve", ("POST",), summary="Approve a post waiting for approval",
          scope="publish", body="v1_review", responses={200: "post_with_tasks"})
def approve_post(post_id, payload):
    """Release the post's tasks, or make a draft ``approved`` (``post.approved``)."""
    post = posts.get_post(g.principal.workspace_id, post_id)
    approvals.review(runtime(), g.principal, post, True, payload.get("note", ""))
    return jsonify(_post_with_tasks(Post.get_by_id(post.id)))


@endpoint(bp, "/posts/<post_id>/reject", ("POST",), summary="Reject a post waiting for approval",
          scope="publish", body="v1_review", responses={200: "post_with_tasks"})
def reject_post(post_id, payload):
    """Cancel the post's tasks, or reject the draft (``post.rejected``)."""
    post = posts.get_post(g.principal.workspace_id, post_id)
    approvals.review(runtime(), g.principal, post, False, payload.get("note", ""))
    return jsonify(_post_with_tasks(Post.get_by_id(post.id)))


@endpoint(bp, "/posts/<post_id>/tasks/<task_id>/resolve", ("POST",), scope="publish", body="v1_task_resolve",
          summary="Settle an unconfirmed task: the post is live (with its id on the platform), or send it again",
          responses={200: "post_with_tasks"})
def resolve_task(post_id, task_id, payload):
    """409 unless the task is ``unconfirmed``; the post with its tasks as they now are."""
    post = posts.get_post(g.principal.workspace_id, post_id)
    return jsonify(_post_with_tasks(resolving.resolve(runtime(), g.principal, post, task_id, payload)))


@endpoint(bp, "/posts/<post_id>/retry", ("POST",), scope="publish", body="v1_post_retry",
          summary="Queue a post's failed tasks again (reconciled first where an attempt may be live)",
          responses={200: "post_retry"})
def retry_post(post_id, payload):
    """The post with its tasks as they now are, and ``retry``: the tasks queued, and why the others were not."""
    post = posts.get_post(g.principal.workspace_id, post_id)
    post, queued, skipped = retrying.retry(runtime(), g.principal, post, payload)
    body = _post_with_tasks(post)
    body["retry"] = {"queued": [f"task_{task.id}" for task in queued], "not_queued": skipped}
    return jsonify(body)


@endpoint(bp, "/accounts", ("GET",), summary="Connected accounts with platform, status and token health",
          scope="posts:read", query=(paging.paged_on_request_query(200), paging.cursor_query(accounts.ACCOUNT_PREFIX)),
          responses={200: "account_list"})
def list_accounts():
    """The workspace's accounts, oldest first (tokens are never shown); page with ``cursor``."""
    query = Account.select().where(Account.workspace == g.principal.workspace_id)
    rows, next_cursor = paging.listed(query, Account.id, limit=(None, 200), prefix=accounts.ACCOUNT_PREFIX,
                                      descending=False)
    return jsonify({"accounts": [accounts.serialize_account(row) for row in rows], "next_cursor": next_cursor})


@endpoint(bp, "/accounts", ("POST",), summary="Connect an account with an access token", scope="accounts",
          body="v1_account_connect", responses={200: "account", 201: "account"}, errors=(500,))
def connect_account(payload):
    """Check the token with the platform, then store it encrypted; warn when it expires within a week."""
    account, created = accounts.connect(runtime(), g.principal.workspace_id, payload["platform"].strip().lower(),
                                        payload["access_token"].strip(), payload.get("details"))
    body = accounts.serialize_account(account)
    warnings = accounts.expiry_warnings(runtime(), account)
    if warnings:
        body["warnings"] = warnings
    return jsonify(body), 201 if created else 200


@endpoint(bp, "/accounts/connect", ("POST",), summary="Start connecting accounts through the platform's OAuth dialog",
          scope="accounts", body="v1_account_oauth_connect", responses={200: "account_oauth_start"}, errors=(409,))
def start_oauth_connect(payload):
    """The platform's authorisation URL with a signed, single-use, expiring state (PKCE where declared)."""
    return jsonify(oauth_connect.start(runtime(), g.principal.workspace_id, payload["platform"].strip().lower(),
                                       payload.get("redirect_uri"), payload.get("accounts")))


@endpoint(bp, "/accounts/callback/<platform>", ("GET",), auth=False,
          summary="Where the platform's OAuth dialog sends the browser back: connects the accounts (the state "
                  "authenticates it)", responses={200: "account_oauth_connected", 303: None}, errors=(409, 500),
          query=(("state", "string", "The state POST /v1/accounts/connect issued", True),
                 ("code", "string", "The authorisation code the platform gave"),
                 ("error", "string", "The platform's error (access_denied when the user declined)"),
                 ("error_description", "string", "The platform's words for the error")))
def oauth_callback(platform):
    """Check and use up the state, exchange the code and connect the chosen accounts; redirect back to
    the flow's ``redirect_uri`` when it had one, else answer JSON."""
    result = oauth_connect.finish(runtime(), platform.strip().lower(), request.args.to_dict())
    if result.return_to:
        return redirect(oauth_connect.back_to(result), code=303)
    if result.error is not None:
        raise result.error
    return jsonify(oauth_connect.connected_body(result))


@endpoint(bp, "/accounts/<account_id>", ("GET",), summary="One connected account", scope="posts:read",
          responses={200: "account"})
def get_account(account_id):
    """The account and its token health."""
    return jsonify(accounts.serialize_account(accounts.get_account(g.principal.workspace_id, account_id)))


@endpoint(bp, "/accounts/<account_id>/quota", ("GET",), scope="posts:read",
          summary="How much of its platform's posting quota an account has used (Instagram: 100 API posts a day)",
          responses={200: "account_quota"}, errors=(409, 500))
def account_quota(account_id):
    """Ask the platform now; ``quota`` is null for a platform without a posting quota."""
    account = accounts.get_account(g.principal.workspace_id, account_id)
    quota = accounts.publishing_quota(runtime(), account)
    return jsonify({"account_id": f"{accounts.ACCOUNT_PREFIX}{account.id}", "platform": account.platform,
                    "quota": quota})


@endpoint(bp, "/accounts/<account_id>", ("DELETE",), summary="Disconnect an account (its token is deleted)",
          scope="accounts", responses={200: "success"})
def disconnect_account(account_id):
    """Forget the token; tasks still waiting for this account fail with a clear reason."""
    account = accounts.get_account(g.principal.workspace_id, account_id)
    accounts.disconnect(runtime(), account)
    return jsonify({"success": True})

