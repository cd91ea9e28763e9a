"""Engagement figures shared by exports, daily analytics and health scores.

Engagement is pushed as snapshots (history is kept). Reports count each post's *latest* snapshot
once, attributed to the day the post went out: its ``published_at``, else its ``scheduled_at``,
else its ``created_at`` (posts published outside Herald and measured through ``update_engagement``
have no ``published_at``).

A snapshot holds every metric: one a push or a pull leaves out keeps the last value its source
reported (pushes through the API and the action count as one source), never 0.
"""

from __future__ import annotations

from collections.abc import Iterable

import peewee as pw

from ..db.engagement_hours import PUSHED_SOURCES
from ..db.models import EngagementSnapshot, Post

INTERACTIONS = ("likes", "comments", "saves", "shares")
BATCH = 500  # ids per IN (...) list: well under every database's parameter limit
# PUSHED_SOURCES: the sources that mean "someone pushed the numbers" (POST /api/intelligence/engagement,
# the update_engagement action) rather than a platform pull; they count as one source. Defined beside the
# triggers that count them so (herald.db.engagement_hours).


def same_source(source: str) -> frozenset[str]:
    """The sources counted as one with ``source``: every pushed source, or that one platform."""
    return PUSHED_SOURCES if source in PUSHED_SOURCES else frozenset({source})


def attributed_at() -> pw.Function:
    """The SQL expression of when a post's engagement counts: the moment it went out (see above)."""
    return pw.fn.COALESCE(Post.published_at, Post.scheduled_at, Post.created_at)


def latest_by_post(post_ids: Iterable[int], sources: Iterable[str] | None = None) -> dict[int, EngagementSnapshot]:
    """The newest snapshot (by ``recorded_at``, then id) of each post in ``post_ids``, one query per 500 posts;
    only among snapshots from ``sources`` when given."""
    ids = list(dict.fromkeys(post_ids))
    latest: dict[int, EngagementSnapshot] = {}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rank = pw.fn.ROW_NUMBER().over(partition_by=[EngagementSnapshot.post],
                                       order_by=[EngagementSnapshot.recorded_at.desc(), EngagementSnapshot.id.desc()])
        wanted = EngagementSnapshot.post.in_(chunk)
        if sources is not None:
            wanted &= EngagementSnapshot.source.in_(sorted(sources))
        ranked = EngagementSnapshot.select(EngagementSnapshot, rank.alias("rank")).where(wanted)
        newest = (EngagementSnapshot.select(ranked.c.id).from_(ranked).where(ranked.c.rank == 1))
        for row in EngagementSnapshot.select().where(EngagementSnapshot.id.in_(newest)):
            latest[row.post_id] = row
    return latest


def latest_by_post_and_source(post_ids: Iterable[int]) -> dict[tuple[int, str], EngagementSnapshot]:
    """The newest snapshot of each (post, source) of the posts in ``post_ids``, one query per 500 posts."""
    ids = list(dict.fromkeys(post_ids))
    latest: dict[tuple[int, str], EngagementSnapshot] = {}
    for start in range(0, len(ids), BATCH):
        rank = pw.fn.ROW_NUMBER().over(partition_by=[EngagementSnapshot.post, EngagementSnapshot.source],
                                       order_by=[EngagementSnapshot.recorded_at.desc(), EngagementSnapshot.id.desc()])
        ranked = (EngagementSnapshot.select(EngagementSnapshot, rank.alias("rank"))
                  .where(EngagementSnapshot.post.in_(ids[start:start + BATCH])))
        newest = EngagementSnapshot.select(ranked.c.id).from_(ranked).where(ranked.c.rank == 1)
        for row in EngagementSnapshot.select().where(EngagementSnapshot.id.in_(newest)):
            latest[(row.post_id, row.source)] = row
    return latest


def interactions(snapshot: EngagementSnapshot | None) -> int:
    """Likes + comments + saves + shares of a snapshot (0 for none)."""
    if snapshot is None:
        return 0
    return sum(getattr(snapshot, name) or 0 for name in INTERACTIONS)


def rate(total_interactions: int, reach: int) -> float:
    """Interactions per reached person, in percent with two decimals; 0.0 when nothing was reached."""
    return round(100.0 * total_interactions / reach, 2) if reach else 0.0
