"""``/api/intelligence``: scoring, engagement pushes, brand memory, hooks, patterns, audit, report.

Everything here works from the workspace's own data; nothing calls an AI provider.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from ...db.models import Client, Post, write_transaction
from ...errors import ValidationError
from ...intelligence import engagement, lookups, openers, patterns, scoring
from ...publishing.posts import get_client, get_post, lock_post, platform_names, record_version, snapshot
from . import client_arg, endpoint, id_query, int_arg, int_query, runtime

bp = Blueprint("intelligence", __name__, url_prefix="/api/intelligence")

CLIENT_QUERY = id_query("client_id", "the client", required=True)


@endpoint(bp, "/score", ("POST",), summary="Score a caption (or a stored post) with every scoring strategy",
          scope="intelligence", body="intelligence_score", responses={200: "score"})
def score(payload):
    """The combined score (0-100), each strategy's part and the reasons; a ``post_id``'s score is stored."""
    workspace_id = g.principal.workspace_id
    if "post_id" in payload and "caption" in payload:
        raise ValidationError("Give caption or post_id, not both.", field="caption")
    post = None
    if "post_id" in payload:
        post = get_post(workspace_id, payload["post_id"])
        if not post.caption.strip():
            raise ValidationError(f"post_{post.id} has no caption to score yet.", field="post_id")
        client = (Client.get_or_none((Client.id == post.client_id) & (Client.workspace == workspace_id))
                  if post.client_id else None)
        subject = scoring.ScoringPost(caption=post.caption, topic=post.topic, post_type=post.post_type,
                                      platforms=tuple(post.platforms or ()), client_id=post.client_id,
                                      post_id=post.id)
    elif "caption" in payload:
        client = get_client(workspace_id, int(payload["client_id"])) if payload.get("client_id") else None
        subject = scoring.ScoringPost(caption=payload["caption"], topic=payload.get("topic", ""),
                                      post_type=payload.get("post_type", "post"),
                                      platforms=tuple(platform_names(payload.get("platforms"))),
                                      client_id=client.id if client else None)
    else:
        raise ValidationError("Give the caption to score, or the post_id of a stored post.", field="caption")
    context = scoring.ScoringContext(workspace_id, client, exclude_post=post.id if post else None)
    combined = scoring.combine(runtime().registry, subject, context, payload.get("scorers"))
    if post is not None:
        with write_transaction():
            post = lock_post(post.id)
            before = snapshot(post)
            post.score = combined.value
            post.save(only=[Post.score])
            record_version(post, g.principal.label, before)
    body = combined.as_dict()
    body.update(post_id=post.id if post else None, stored=post is not None, client_id=subject.client_id,
                features=subject.features.as_dict())
    return jsonify(body)


@endpoint(bp, "/engagement", ("POST",), summary="Record engagement metrics for a post (kept as history)",
          scope="intelligence", body="intelligence_engagement", responses={201: "engagement_recorded"})
def push_engagement(payload):
    """Append one snapshot; answers with it, its engagement rate and the post's current totals."""
    return jsonify(engagement.push(runtime(), g.principal.workspace_id, payload)), 201


@endpoint(bp, "/engagement/batch", ("POST",), summary="Record engagement for up to 1,000 posts (per-item results)",
          scope="intelligence", body="intelligence_engagement_batch", responses={200: "engagement_batch"})
def push_engagement_batch(payload):
    """Each item is recorded on its own: failed items are reported by index, the others are kept."""
    return jsonify(engagement.push_batch(runtime(), g.principal.workspace_id, payload["items"]))


@endpoint(bp, "/memory", ("GET",), summary="Brand memory: voice, topics, hashtags, best days and hours, averages",
          scope="intelligence", query=(CLIENT_QUERY,), responses={200: "brand_memory"})
def brand_memory():
    """What the client's own posts say about it."""
    client = client_arg(required=True)
    return jsonify(lookups.brand_memory(g.principal.workspace_id, client))


@endpoint(bp, "/hooks", ("GET",), summary="Top hooks: first lines ranked by the engagement of posts that used them",
          scope="intelligence", query=(CLIENT_QUERY, int_query("limit", 50, 1, openers.MAX_LIMIT)),
          responses={200: "top_hooks"})
def top_openers():
    """``hooks`` from the client's posts; ``generated`` holds AI-generated hooks."""
    client = client_arg(required=True)
    limit = int_arg("limit", 50, 1, openers.MAX_LIMIT)
    return jsonify(lookups.top_openers(g.principal.workspace_id, client, limit=limit))


@endpoint(bp, "/top-patterns", ("GET",), summary="Winning patterns with the evidence behind each",
          scope="intelligence",
          query=(CLIENT_QUERY,
                 int_query("min_sample", patterns.MIN_SAMPLE, 1, 100,
                           f"posts a pattern needs, 1-100, default {patterns.MIN_SAMPLE}")),
          responses={200: "top_patterns"})
def top_patterns():
    """Post type, length, time, day and hook style against the client's baseline engagement rate."""
    client = client_arg(required=True)
    min_sample = int_arg("min_sample", patterns.MIN_SAMPLE, 1, 100)
    body = lookups.top_patterns(g.principal.workspace_id, client, min_sample=min_sample)
    return jsonify({"client_id": client.id, **body})


@endpoint(bp, "/analyze-performance", ("POST",), summary="A full audit of a client's posts with recommendations",
          scope="intelligence", body="intelligence_analyze", responses={200: "audit"})
def analyze_performance(payload):
    """Cadence, trend, best and worst posts, patterns and rule-based recommendations over ``period`` days."""
    client = get_client(g.principal.workspace_id, int(payload["client_id"]))
    return jsonify(lookups.audit(g.principal.workspace_id, client, payload.get("period", 30), runtime().clock.now()))


@endpoint(bp, "/export", ("GET",), summary="The full intelligence report of a client as JSON", scope="intelligence",
          query=(CLIENT_QUERY, int_query("period", 30, 1, 365, "days the audit covers, 1-365, default 30")),
          responses={200: "intelligence_report"})
def export_report():
    """Memory, hooks, patterns, audit and scores in one document (served as a download)."""
    client = client_arg(required=True)
    period = int_arg("period", 30, 1, 365)
    now = runtime().clock.now()
    response = current_app.response_class(lookups.report_json(g.principal.workspace_id, client, period, now),
                                          mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="herald-report-client-{client.id}-{now:%Y%m%d}.json"')
    return response
