"""Whose engagement a snapshot is, and a post's engagement over time (``GET /v1/posts/{id}/engagement``).

A snapshot names its ``source``: a platform's name when the scheduled pull read it from that
platform (:mod:`herald.intelligence.pull`), ``api`` or ``action`` when someone pushed the numbers.
It carries no account, so attribution follows the post's publish tasks:

- a pulled snapshot belongs to its platform; a pushed one to the post's platform when the post went
  to exactly one (by its tasks, else the platforms it names), and to no platform otherwise;
- within a platform, to the account of the post's task on it when there is exactly one such task
  (a post sent to two accounts of one platform cannot be split: no account).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import peewee as pw

from ..db.models import Account, EngagementSnapshot, Post, PublishTask, isoformat
from ..publishing.accounts import ACCOUNT_PREFIX
from ..publishing.engagement_figures import PUSHED_SOURCES, interactions, rate
from ..publishing.posts import METRICS, POST_PREFIX

# The newest snapshots shown per platform: 30 days of the 3-hourly pull.
HISTORY_LIMIT = 240
BATCH = 500


@dataclasses.dataclass(frozen=True)
class Owner:
    """Where a snapshot's figures belong: a platform (None: not known) and an account on it (None: not known)."""

    platform: str | None
    account_id: int | None = None
    username: str | None = None

    def as_dict(self) -> dict:
        """``platform``, ``account_id`` (acc_N) and ``username``, null where not known."""
        return {"platform": self.platform,
                "account_id": f"{ACCOUNT_PREFIX}{self.account_id}" if self.account_id is not None else None,
                "username": self.username}


class Attribution:
    """The owners of the snapshots of some posts, from their publish tasks (one query per 500 posts)."""

    def __init__(self, posts: Iterable[Post]):
        self._platforms: dict[int, list[str]] = {}
        self._accounts: dict[tuple[int, str], list[tuple[int, str]]] = {}
        posts = list(posts)
        for post in posts:
            self._platforms[post.id] = list(dict.fromkeys(post.platforms or []))
        ids = [post.id for post in posts]
        from_tasks: dict[int, list[str]] = {}
        for start in range(0, len(ids), BATCH):
            rows = (PublishTask.select(PublishTask.post, PublishTask.platform, Account.id, Account.username)
                    .join(Account).where(PublishTask.post.in_(ids[start:start + BATCH])).order_by(PublishTask.id))
            for task in rows:
                from_tasks.setdefault(task.post_id, []).append(task.platform)
                self._accounts.setdefault((task.post_id, task.platform), []).append(
                    (task.account.id, task.account.username))
        for post_id, platforms in from_tasks.items():
            self._platforms[post_id] = list(dict.fromkeys(platforms))

    def owner(self, post_id: int, source: str) -> Owner:
        """Whose figures a snapshot of ``post_id`` from ``source`` are (see the module's rules)."""
        if source in PUSHED_SOURCES:
            platforms = self._platforms.get(post_id, [])
            if len(platforms) != 1:
                return Owner(None)
            platform = platforms[0]
        else:
            platform = source
        accounts = self._accounts.get((post_id, platform), [])
        if len(accounts) == 1:
            return Owner(platform, *accounts[0])
        return Owner(platform)


def figures(snapshot: EngagementSnapshot) -> dict:
    """One snapshot's metrics, interactions and engagement rate (null when it reached no one), source and time."""
    data = {name: getattr(snapshot, name) for name in METRICS}
    total = interactions(snapshot)
    data["interactions"] = total
    data["engagement_rate"] = rate(total, snapshot.reach) if snapshot.reach else None
    data["source"] = snapshot.source
    data["recorded_at"] = isoformat(snapshot.recorded_at)
    return data


def post_history(post: Post) -> dict:
    """The post's snapshots grouped by owner (platform and account), each group oldest first with its
    latest figures; at most :data:`HISTORY_LIMIT` newest snapshots per source."""
    rank = pw.fn.ROW_NUMBER().over(partition_by=[EngagementSnapshot.source],
                                   order_by=[EngagementSnapshot.recorded_at.desc(), EngagementSnapshot.id.desc()])
    ranked = (EngagementSnapshot.select(EngagementSnapshot.id, rank.alias("rank"))
              .where(EngagementSnapshot.post == post.id))
    kept = EngagementSnapshot.select(ranked.c.id).from_(ranked).where(ranked.c.rank <= HISTORY_LIMIT)
    rows = list(EngagementSnapshot.select().where(EngagementSnapshot.id.in_(kept))
                .order_by(EngagementSnapshot.recorded_at, EngagementSnapshot.id))
    counts = dict(EngagementSnapshot.select(EngagementSnapshot.source, pw.fn.COUNT(EngagementSnapshot.id))
                  .where(EngagementSnapshot.post == post.id).group_by(EngagementSnapshot.source).tuples())
    attribution = Attribution([post])
    groups: dict[Owner, list[EngagementSnapshot]] = {}
    sources: dict[Owner, set[str]] = {}
    for row in rows:
        owner = attribution.owner(post.id, row.source)
        groups.setdefault(owner, []).append(row)
        sources.setdefault(owner, set()).add(row.source)
    ordered = sorted(groups, key=lambda owner: (owner.platform is None, owner.platform or "", owner.account_id or 0))
    return {
        "post_id": f"{POST_PREFIX}{post.id}",
        "platforms": [{
            **owner.as_dict(),
            "snapshots": sum(counts.get(source, 0) for source in sources[owner]),
            "latest": figures(groups[owner][-1]),
            "history": [figures(row) for row in groups[owner]],
        } for owner in ordered],
    }
