"""The full intelligence report of a client as one JSON document: memory, hooks, patterns, audit
and the scores stored on its posts."""

from __future__ import annotations

import datetime as dt
import statistics

from ..db.models import Client, isoformat
from . import audit, memory, openers, patterns
from .history import PostStats, round_rate

REPORT_VERSION = 1


def scores(items: list[PostStats]) -> dict:
    """The scores stored on the client's posts (newest first) and their average."""
    scored = [item for item in items if item.score is not None]
    return {
        "posts_scored": len(scored),
        "average": round(statistics.fmean([item.score for item in scored]), 1) if scored else None,
        "posts": [{"post_id": item.post_id, "score": item.score, "first_line": item.features.first_line[:200],
                   "engagement_rate": round_rate(item.rate)}
                  for item in sorted(scored, key=lambda item: (item.when, item.post_id), reverse=True)],
    }


def build(workspace_id: int, client: Client, items: list[PostStats], *, period_days: int,
          now: dt.datetime) -> dict:
    """Everything Herald knows about the client's content, computed from ``items`` (see :func:`history.load`);
    :func:`herald.intelligence.lookups.report` answers the same from the stored results."""
    return assemble(client, now, memory=memory.build(client, items), hooks=openers.build(workspace_id, client, items),
                    patterns=patterns.analyse(items), audit=audit.run(client, items, period_days, now),
                    scores=scores(items))


def assemble(client: Client, now: dt.datetime, *, memory: dict, hooks: dict, patterns: dict, audit: dict,
             scores: dict) -> dict:
    """The report document from its parts."""
    return {
        "report_version": REPORT_VERSION,
        "generated_at": isoformat(now),
        "client": {"id": client.id, "name": client.name, "timezone": client.timezone},
        "memory": memory,
        "hooks": hooks,
        "patterns": patterns,
        "audit": audit,
        "scores": scores,
    }
