"""A workspace's plan, its limits and this calendar month's usage (``GET /api/plan``)."""

from __future__ import annotations

import datetime as dt

from ..config import Config
from ..db.models import Media, Post, Workspace, isoformat
from .ai_usage import used_this_month
from .limits import PLAN_LIMITS, month_start


def plan_report(workspace: Workspace, config: Config, now: dt.datetime) -> dict:
    """The workspace's plan, its limits and the usage of the calendar month of ``now`` (the runtime's clock)."""
    since = month_start(now)
    posts = Post.select().where((Post.workspace == workspace) & (Post.created_at >= since)).count()
    uploads = Media.select().where((Media.workspace == workspace) & (Media.created_at >= since))
    limits = dict(PLAN_LIMITS[workspace.plan])
    limits.update({"requests": config.rate_limit, "login_requests": config.login_rate_limit,
                   "upload_bytes_per_file": config.max_upload_bytes})
    return {
        "plan": workspace.plan,
        "limits": limits,
        "usage": {
            "period_start": isoformat(since),
            "posts_created": posts,
            "media_uploaded": uploads.count(),
            "media_uploaded_bytes": sum(row.size for row in uploads),
            # Succeeded generations, and those running now (they hold a slot until they end).
            "ai_generations": used_this_month(workspace.id, now),
        },
    }
