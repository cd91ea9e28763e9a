"""Top openers (``GET /api/intelligence/hooks``): the first lines of a client's posts, ranked by the
engagement of the posts that used them. AI-generated openers (made by an AI provider and stored per
client) are a second list beside these; :func:`generated_openers` is where they come in. The API
calls them hooks; in the code a hook is a pluggy hook."""

from __future__ import annotations

import re

from ..db.models import Client, GeneratedOpener, isoformat
from .history import PostStats, mean_rate, rated, round_rate

MAX_LIMIT = 200  # the most openers a report shows (``limit`` of GET /api/intelligence/hooks)


def normalise(line: str) -> str:
    """A first line compared case- and space-insensitively (the same opener reused counts together)."""
    return re.sub(r"\s+", " ", line).strip().lower()


def ranked(items: list[PostStats]) -> list[dict]:
    """Each distinct first line with its uses, how many of those have engagement, and their average rate.

    Openers with engagement come first, best average rate first (ties: more uses first); openers
    without engagement follow, most used first.
    """
    groups: dict[str, list[PostStats]] = {}
    for item in items:
        if item.features.first_line:
            groups.setdefault(normalise(item.features.first_line), []).append(item)
    rows = []
    for members in groups.values():
        with_rate = rated(members)
        newest = members[-1]
        rows.append({
            "hook": newest.features.first_line,
            "hook_style": newest.features.opener_style,
            "uses": len(members),
            "posts_with_engagement": len(with_rate),
            "average_engagement_rate": round_rate(mean_rate(with_rate)),
            "best_engagement_rate": round_rate(max((i.rate for i in with_rate), default=None)),
            "post_ids": [item.post_id for item in members],
        })
    rows.sort(key=lambda row: (row["average_engagement_rate"] is None, -(row["average_engagement_rate"] or 0),
                               -row["uses"], row["hook"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def generated_openers(workspace_id: int, client: Client) -> list[dict]:
    """AI-generated openers for the client (``POST /api/intelligence/populate-hooks``), newest first.

    They have no engagement yet, so they are listed apart from the ranked openers of real posts.
    """
    rows = (GeneratedOpener.select()
            .where((GeneratedOpener.workspace == workspace_id) & (GeneratedOpener.client == client.id))
            .order_by(GeneratedOpener.created_at.desc(), GeneratedOpener.id.desc()))
    return [{"text": row.text, "style": row.style, "created_at": isoformat(row.created_at),
             "job_id": row.job_id} for row in rows]


def build(workspace_id: int, client: Client, items: list[PostStats], limit: int = 50) -> dict:
    """The openers report: ``hooks`` (from the client's posts) and ``generated`` (from an AI provider)."""
    return report(workspace_id, client, top(items), limit)


def top(items: list[PostStats]) -> dict:
    """What the report can show of the :func:`ranked` openers: the first :data:`MAX_LIMIT` and how many
    there are (what is stored per client revision; a client may have thousands)."""
    openers = ranked(items)
    return {"total": len(openers), "hooks": openers[:MAX_LIMIT]}


def report(workspace_id: int, client: Client, openers: dict, limit: int = 50) -> dict:
    """The openers report (``limit`` at most :data:`MAX_LIMIT`) from the client's :func:`top` openers (the
    generated ones are read here)."""
    return {"client_id": client.id, "total": openers["total"], "hooks": openers["hooks"][:limit],
            "generated": generated_openers(workspace_id, client)}
