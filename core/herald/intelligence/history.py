"""A client's posts with their engagement: what every analysis starts from.

Engagement is kept as a history of snapshots. A post's current engagement adds up the newest
snapshot of each source (each platform Herald pulls from, and pushes through the API or the
``update_engagement`` action), so a post published on two platforms counts both audiences.
The engagement rate is ``(likes + comments + saves + shares) / reach`` when reach is above 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from zoneinfo import ZoneInfo

import peewee as pw

from ..captions import features as feats
from ..db.models import Client, EngagementSnapshot, Post
from ..publishing import schedule
from ..publishing.engagement_figures import PUSHED_SOURCES

INTERACTIONS = ("likes", "comments", "saves", "shares")
TOTALS = INTERACTIONS + ("reach",)
MAX_POSTS = 5000  # the newest posts of a client that an analysis reads


@dataclasses.dataclass(frozen=True)
class PostStats:
    """One post of the client as the analyses see it."""

    post_id: int
    caption: str
    topic: str
    post_type: str
    platforms: tuple[str, ...]
    status: str
    score: float | None
    campaign_id: int | None
    when: dt.datetime  # naive UTC: published, else scheduled, else created
    local_when: dt.datetime  # ``when`` in the client's time zone
    features: feats.Features
    metrics: dict[str, int] | None  # summed newest snapshot per source; None without engagement
    snapshots: int

    @property
    def rate(self) -> float | None:
        """Engagement rate, or None without engagement or reach."""
        return engagement_rate(self.metrics)

    def brief(self) -> dict:
        """A short JSON description (id, first line, time, rate), for evidence lists."""
        return {"post_id": self.post_id, "first_line": self.features.first_line[:200],
                "posted_at": self.when.isoformat(timespec="seconds") + "Z",
                "engagement_rate": round_rate(self.rate), "metrics": self.metrics}


def engagement_rate(metrics: dict[str, int] | None) -> float | None:
    """``(likes + comments + saves + shares) / reach``; None when reach is missing or 0."""
    if not metrics or not metrics.get("reach"):
        return None
    return sum(metrics.get(name) or 0 for name in INTERACTIONS) / metrics["reach"]


def round_rate(rate: float | None) -> float | None:
    """An engagement rate rounded for output (6 decimals: 0.041667)."""
    return None if rate is None else round(rate, 6)


def mean_rate(items: list[PostStats]) -> float | None:
    """The mean engagement rate of the items that have one."""
    rates = [item.rate for item in items if item.rate is not None]
    return statistics.fmean(rates) if rates else None


def zone_of(client: Client | None) -> ZoneInfo:
    """The client's time zone (UTC when it has none or an unknown one)."""
    return schedule.zone(client.timezone if client is not None else None)


def local_time(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A stored naive UTC time as a naive time in ``zone``."""
    return value.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None)


def current_engagement(post_ids: list[int]) -> dict[int, tuple[dict[str, int], int]]:
    """For each post with engagement: ``(summed newest snapshot per source, number of snapshots)``.

    The database picks the newest snapshot of each (post, source) and counts the post's snapshots,
    so only those rows are read, however long the history (the scheduled pull adds one every few hours).
    """
    snapshot = EngagementSnapshot
    source = pw.Case(None, [(snapshot.source.in_(sorted(PUSHED_SOURCES)), "pushed")], snapshot.source)
    rank = pw.fn.ROW_NUMBER().over(partition_by=[snapshot.post, source],
                                   order_by=[snapshot.recorded_at.desc(), snapshot.id.desc()])
    count = pw.fn.COUNT(snapshot.id).over(partition_by=[snapshot.post])
    result: dict[int, tuple[dict[str, int], int]] = {}
    for start in range(0, len(post_ids), 500):  # keep IN lists small for the databases
        ranked = (snapshot.select(snapshot.post, *(getattr(snapshot, name) for name in TOTALS),
                                  rank.alias("rank"), count.alias("snapshots"))
                  .where(snapshot.post.in_(post_ids[start:start + 500])))
        newest = (snapshot.select(ranked.c.post_id, ranked.c.snapshots,
                                  *(getattr(ranked.c, name) for name in TOTALS))
                  .from_(ranked).where(ranked.c.rank == 1).dicts())
        for row in newest:
            totals, _ = result.get(row["post_id"], ({name: 0 for name in TOTALS}, 0))
            for name in TOTALS:
                totals[name] += row[name] or 0
            result[row["post_id"]] = (totals, row["snapshots"])
    return result


def load(workspace_id: int, client: Client, *, exclude_post: int | None = None) -> list[PostStats]:
    """The client's posts (newest :data:`MAX_POSTS`), oldest first, with engagement and features.

    Cancelled and rejected posts never reached an audience and are left out. Reports that cover a
    period filter these items by ``when`` themselves.
    """
    query = (Post.select().where((Post.workspace == workspace_id) & (Post.client == client.id)
                                 & Post.status.not_in(["cancelled", "rejected"]))
             .order_by(Post.id.desc()).limit(MAX_POSTS))
    posts = [post for post in query if post.id != exclude_post]
    engagement = current_engagement([post.id for post in posts])
    zone = zone_of(client)
    items = []
    for post in posts:
        when = post.published_at or post.scheduled_at or post.created_at
        metrics, snapshots = engagement.get(post.id, (None, 0))
        items.append(PostStats(
            post_id=post.id, caption=post.caption or "", topic=post.topic or "", post_type=post.post_type,
            platforms=tuple(post.platforms or ()), status=post.status, score=post.score,
            campaign_id=getattr(post, "campaign_id", None), when=when, local_when=local_time(when, zone),
            features=feats.extract(post.caption or ""), metrics=metrics, snapshots=snapshots))
    items.sort(key=lambda item: (item.when, item.post_id))
    return items


def rated(items: list[PostStats]) -> list[PostStats]:
    """The items that have an engagement rate."""
    return [item for item in items if item.rate is not None]
