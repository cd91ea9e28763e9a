"""The core actions of ``POST /api/webhooks``: ``create_post``, ``update_post``, ``list_posts``,
``update_engagement``."""

from __future__ import annotations

from herald import Action, hookimpl
from herald.db import post_counts
from herald.db.models import Post
from herald.db.paging import keyset
from herald.errors import ValidationError
from herald.media.url_import import import_urls
from herald.publishing import editing, variants
from herald.publishing.campaigns import campaign_for_post
from herald.publishing.engagement_figures import latest_by_post
from herald.publishing.posts import (
    check_media,
    create_post,
    get_client,
    get_post,
    platform_names,
    record_engagement,
    serialize_engagement,
    serialize_post,
)


def handle_create_post(ctx, payload):
    """Create a draft post for a client (its checks read outside the write transaction, which
    :func:`herald.publishing.posts.create_post` opens around its inserts alone)."""
    client = get_client(ctx.workspace_id, int(payload["client_id"]))
    platforms = platform_names(payload.get("platforms", []))
    ctx.check_platforms(platforms)
    post_type = payload.get("post_type", "post")
    for name in platforms:
        supported = ctx.runtime.registry.platforms[name].obj.post_types
        if post_type not in supported:
            raise ValidationError(f"{name} does not support post_type {post_type!r}; it supports "
                                  f"{', '.join(supported)}.", field="post_type")
    campaign = campaign_for_post(ctx.workspace_id, payload.get("campaign_id"), client.id)
    post_variants = variants.parse(ctx.runtime, payload.get("variants"))
    if not (payload.get("topic") or "").strip() and not (payload.get("caption") or "").strip():
        raise ValidationError("Give a caption or a topic (or both).", field="caption")
    # Media URLs are downloaded and recorded last, after every other check, outside any transaction.
    media = check_media(ctx.workspace_id, import_urls(ctx.runtime.config, ctx.workspace_id, payload.get("media", [])))
    post = create_post(ctx.workspace_id, ctx.actor, client=client, topic=payload.get("topic", ""),
                       caption=payload.get("caption", ""), post_type=post_type, platforms=platforms, media=media,
                       campaign=campaign, now=ctx.runtime.clock.now(), variants=post_variants)
    return {"post": serialize_post(post, shape="action")}, 201


def handle_update_post(ctx, payload):
    """Edit a post (see :mod:`herald.publishing.editing`): one version, ``post.updated``; 409 naming the
    tasks that started once any has."""
    post = get_post(ctx.workspace_id, int(payload["post_id"]))
    edited = editing.edit(ctx.runtime, ctx.principal, post, editing.from_action(ctx, post, payload))
    body = {"post": serialize_post(edited.post, shape="action")}
    if edited.warnings:
        body["warnings"] = edited.warnings
    return body


def handle_list_posts(ctx, payload):
    """Recent posts of a client, newest first, with their latest engagement."""
    client = get_client(ctx.workspace_id, int(payload["client_id"]))
    limit = payload.get("limit", 20)
    query = Post.select().where((Post.workspace == ctx.workspace_id) & (Post.client == client))
    if payload.get("status"):
        query = query.where(Post.status == payload["status"])
    total = post_counts.total(ctx.workspace_id, client_id=client.id, status=payload.get("status") or None)
    page = keyset(query, Post.id, limit=limit, after=int(payload["cursor"]) if payload.get("cursor") else None)
    engagement = latest_by_post(post.id for post in page.rows)
    return {
        "posts": [serialize_post(post, engagement.get(post.id), shape="action") for post in page.rows],
        "total": total,
        "next_cursor": str(page.next_key) if page.next_key is not None else None,
    }


def handle_update_engagement(ctx, payload):
    """Record engagement metrics for a post (kept as history)."""
    post = get_post(ctx.workspace_id, int(payload["post_id"]))
    snapshot = record_engagement(post, payload, source="action")
    return {"post_id": post.id, "engagement": serialize_engagement(snapshot)}


@hookimpl
def register_actions(register):
    """Provide the three actions of the Airpost document, and ``update_post``."""
    register(Action("create_post", handle_create_post, "create_post", scope="posts:write",
                    description="Create a draft post for a client.", transaction=False))
    register(Action("update_post", handle_update_post, "update_post", scope="posts:write",
                    description="Edit a post that has not started publishing (caption, topic, type, platforms, "
                                "media, campaign).", transaction=False))
    register(Action("list_posts", handle_list_posts, "list_posts", scope="posts:read",
                    description="Get recent posts for a client."))
    register(Action("update_engagement", handle_update_engagement, "update_engagement", scope="posts:write",
                    description="Push engagement metrics for a post."))
