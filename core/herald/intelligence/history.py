"""A client's posts with their engagement: what every analysis starts from.

Engagement is kept as a history of snapshots. A post's current engagement adds up the newest
snapshot of each source (each platform Herald pulls from, and pushes through the API or the
``update_engagement`` action), so a post published on two platforms counts both audiences.
The engagement rate is ``(likes + comments + saves + shares) / reach`` when reach is above 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import statistics
from zoneinfo import ZoneInfo

from ..captions import features as feats
from ..db.models import Client, Post
from ..publishing import schedule
from . import exact, insights
from .insights import INTERACTIONS, current_engagement
from .insights import TOTALS as TOTALS  # read from here by the reports

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
    keywords: frozenset[str] = frozenset()  # the caption's distinct significant words

    @functools.cached_property
    def rate(self) -> float | None:
        """Engagement rate, or None without engagement or reach (computed once)."""
        return engagement_rate(self.metrics)

    @functools.cached_property
    def exact_rate(self) -> int | None:
        """:attr:`rate` as :func:`herald.intelligence.exact.scaled` gives it (for exact sums; computed once)."""
        rate = self.rate
        return None if rate is None else exact.scaled(rate)

    def brief(self) -> dict:
        """:func:`brief` of the post."""
        return brief(self)


def brief(item) -> dict:
    """A short JSON description of a post (id, first line, time, rate), for evidence lists: ``item`` has
    ``post_id``, ``features.first_line``, ``when``, ``rate`` and ``metrics``."""
    return {"post_id": item.post_id, "first_line": item.features.first_line[:200],
            "posted_at": item.when.isoformat(timespec="seconds") + "Z",
            "engagement_rate": round_rate(item.rate), "metrics": item.metrics}


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


def load(workspace_id: int, client: Client, *, exclude_post: int | None = None) -> list[PostStats]:
    """The client's posts (newest :data:`MAX_POSTS`), oldest first, with engagement and features.

    Cancelled and rejected posts never reached an audience and are left out. Reports that cover a
    period filter these items by ``when`` themselves. Features and engagement come from the stored
    rows of :mod:`herald.intelligence.insights` (computed there when missing or stale).
    """
    items = [item for item in posts(workspace_id, client) if item.post_id != exclude_post]
    items.sort(key=order)
    return items


def order(item) -> tuple[dt.datetime, int]:
    """The order of :func:`load`'s items: by time, then id."""
    return item.when, item.post_id


def posts(workspace_id: int, client: Client, ids: list[int] | None = None) -> list[PostStats]:
    """The client's newest :data:`MAX_POSTS` posts as :func:`load` makes them (of ``ids`` only, when given),
    newest first."""
    zone = zone_of(client)
    return [PostStats(
        post_id=post.post_id, caption=post.caption, topic=post.topic, post_type=post.post_type,
        platforms=post.platforms, status=post.status, score=post.score, campaign_id=post.campaign_id,
        when=post.when, local_when=local_time(post.when, zone), features=post.features, metrics=post.metrics,
        snapshots=post.snapshots, keywords=post.keywords)
        for post in insights.walk(workspace_id, client.id, MAX_POSTS, ids)]


def newest_ids(workspace_id: int, client: Client) -> list[int]:
    """The ids of the posts :func:`load` reads (newest first)."""
    return insights.newest_ids(workspace_id, client.id, MAX_POSTS)


def recompute(workspace_id: int, client: Client, *, exclude_post: int | None = None) -> list[PostStats]:
    """What :func:`load` answers, computed from the posts and snapshots alone (nothing stored is read).

    The reference the stored rows are checked against (the tests).
    """
    query = (Post.select().where((Post.workspace == workspace_id) & (Post.client == client.id)
                                 & Post.status.not_in(list(insights.EXCLUDED_STATUSES)))
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
            features=feats.extract(post.caption or ""), metrics=metrics, snapshots=snapshots,
            keywords=insights.keywords(post.caption or "")))
    items.sort(key=order)
    return items


def rated(items: list[PostStats]) -> list[PostStats]:
    """The items that have an engagement rate."""
    return [item for item in items if item.rate is not None]
