"""Health scores of a workspace or of one client: 0-100, with every part explained.

The score is the weighted mean of five parts, each 0-100. A part without data to judge (no
publish finished in 30 days, no account, no engagement to compare) is reported with
``score: null`` and left out of the mean, so missing data neither helps nor hurts.

============================  ======  =========================================================
part                          weight  score
============================  ======  =========================================================
``cadence``                   30      posts published in the last 28 days, per week, against the
                                      workspace's ``posts_per_week`` target per client (default 3):
                                      100 × min(1, per week / target); a workspace averages its
                                      clients (so one busy client cannot hide a silent one)
``approval_backlog``          20      100 with nothing waiting; else 100 × min(1 − oldest wait /
                                      72 h, 1 − waiting posts / 20), at least 0
``failed_publishes``          20      publishes finished in the last 30 days: 100 × (1 − 2 ×
                                      failed share), at least 0 (half failing scores 0)
``accounts``                  15      100 × (1 − (expired or invalid + ½ × expiring within 7
                                      days) / accounts); disconnected accounts do not count
``engagement_trend``          15      interactions per post (likes, comments, saves, shares) of
                                      posts that went out in the last 30 days against the 30
                                      before: 100 × min(1, now / before); holding steady is full
============================  ======  =========================================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import peewee as pw

from ..db import post_counts
from ..db.models import Account, Client, ClientAccount, Post, PublishTask, Workspace, isoformat
from ..publishing import tasks
from . import period_figures

DEFAULT_POSTS_PER_WEEK = 3
CADENCE_DAYS = 28
APPROVAL_LIMIT_HOURS = 72
APPROVAL_LIMIT_POSTS = 20
FAILURE_DAYS = 30
EXPIRING_DAYS = 7
TREND_DAYS = 30
WEIGHTS = {"cadence": 30, "approval_backlog": 20, "failed_publishes": 20, "accounts": 15, "engagement_trend": 15}


@dataclasses.dataclass
class Part:
    """One part of a health score."""

    name: str
    score: int | None  # None: nothing to judge, left out of the total
    numbers: dict[str, Any]
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a part."""
        return {"name": self.name, "score": self.score, "weight": WEIGHTS[self.name], "numbers": self.numbers,
                "explanation": self.explanation}


@dataclasses.dataclass(frozen=True)
class Scope:
    """Whose health: a workspace, or one client of it."""

    workspace_id: int
    client: Client | None = None

    @property
    def client_id(self) -> int | None:
        """The client's id, or None for the whole workspace."""
        return self.client.id if self.client is not None else None

    def posts(self, query: pw.ModelSelect) -> pw.ModelSelect:
        """``query`` (over ``Post``) narrowed to this scope's posts."""
        query = query.where(Post.workspace == self.workspace_id)
        return query.where(Post.client == self.client.id) if self.client is not None else query


def posts_per_week(workspace: Workspace) -> int:
    """The workspace's cadence target per client (``settings.posts_per_week``, default 3)."""
    return int((workspace.settings or {}).get("posts_per_week") or DEFAULT_POSTS_PER_WEEK)


def _clamp(value: float) -> int:
    return max(0, min(100, round(value)))


@dataclasses.dataclass(frozen=True)
class Figures:
    """What the parts read from the per-day and per-hour figures, all in one :class:`period_figures.Reading`:
    posts published per client in the last 28 days, publish tasks ended per status in the last 30, and
    ``(posts, interactions)`` of the posts that went out in the last 30 days and the 30 before."""

    published: dict[int | None, int]
    ended: dict[str, int]
    engagement: tuple[int, int]
    previous_engagement: tuple[int, int]

    @classmethod
    def read(cls, scope: Scope, now: dt.datetime) -> Figures:
        """The figures of ``scope`` at ``now``."""
        reading = period_figures.Reading(scope.workspace_id, scope.client_id)
        window = dt.timedelta(days=TREND_DAYS)
        asked = (reading.published_by_client(now - dt.timedelta(days=CADENCE_DAYS), now),
                 reading.ended_tasks(now - dt.timedelta(days=FAILURE_DAYS)),
                 reading.engagement(now - window, now), reading.engagement(now - 2 * window, now - window))
        reading.read()
        return cls(*(wanted.value for wanted in asked))


def cadence(scope: Scope, target: int, figures: Figures) -> Part:
    """Posts published per week over the last 28 days against ``target`` per client."""
    if scope.client is not None:
        clients = [scope.client.id]
    else:
        clients = [client for (client,) in Client.select(Client.id)
                   .where((Client.workspace == scope.workspace_id) & Client.deleted_at.is_null()).tuples()]
    counts = figures.published
    weeks = CADENCE_DAYS / 7
    published = sum(counts.get(client, 0) for client in clients)
    numbers = {"target_posts_per_week": target, "window_days": CADENCE_DAYS, "clients": len(clients),
               "posts_published": published,
               "posts_per_week_per_client": round(published / weeks / len(clients), 2) if clients else 0.0}
    if not clients:
        return Part("cadence", 0, {**numbers, "clients_on_target": 0},
                    "No clients yet: add one with POST /api/clients, then publish for it.")
    scores = [_clamp(100 * counts.get(client, 0) / weeks / target) for client in clients]
    on_target = sum(score == 100 for score in scores)
    numbers["clients_on_target"] = on_target
    if scope.client is not None:
        sentence = (f"Published {published} posts in the last {CADENCE_DAYS} days: "
                    f"{numbers['posts_per_week_per_client']} a week against a target of {target}.")
    else:
        sentence = (f"{on_target} of {len(clients)} clients published at least {target} posts a week over the last "
                    f"{CADENCE_DAYS} days ({numbers['posts_per_week_per_client']} a week per client on average).")
    return Part("cadence", _clamp(sum(scores) / len(scores)), numbers, sentence)


def approval_backlog(scope: Scope, now: dt.datetime) -> Part:
    """Posts waiting in ``pending_approval``, and how long the oldest has waited."""
    # From the post counters the triggers keep (O(clients)): counting the waiting posts themselves read
    # 30k index entries at 1M posts, with a heap visit each on PostgreSQL (130-200 ms).
    pending = post_counts.total(scope.workspace_id, client_id=scope.client_id, status=tasks.PENDING_APPROVAL)
    numbers = {"pending": pending, "oldest_waiting_hours": None, "limit_hours": APPROVAL_LIMIT_HOURS,
               "limit_posts": APPROVAL_LIMIT_POSTS}
    if not pending:
        return Part("approval_backlog", 100, numbers, "No post is waiting for approval.")
    # The oldest first, walking the partial index of waiting tasks by age (not MIN() over all of them).
    since = (scope.posts(PublishTask.select(PublishTask.created_at).join(Post))
             .where((PublishTask.workspace == scope.workspace_id) & (PublishTask.status == tasks.PENDING_APPROVAL)
                    & (Post.status == tasks.PENDING_APPROVAL))
             .order_by(PublishTask.created_at).limit(1).scalar())
    hours = round(max(0.0, (now - since).total_seconds() / 3600), 1) if since else 0.0
    numbers["oldest_waiting_hours"] = hours
    score = _clamp(100 * min(1 - hours / APPROVAL_LIMIT_HOURS, 1 - pending / APPROVAL_LIMIT_POSTS))
    return Part("approval_backlog", score, numbers,
                f"{pending} post{'s' if pending != 1 else ''} waiting for approval; the oldest for {hours} hours.")


def failed_publishes(figures: Figures) -> Part:
    """Publishes that failed for good, or ended unconfirmed (they may be live: someone must check),
    among those finished in the last 30 days. Both need the user's attention, so both lower the score."""
    rows = figures.ended
    failed, unconfirmed, finished = rows[tasks.FAILED], rows[tasks.UNCONFIRMED], sum(rows.values())
    numbers = {"failed": failed, "unconfirmed": unconfirmed, "finished": finished, "failure_rate_percent": None,
               "window_days": FAILURE_DAYS}
    if not finished:
        return Part("failed_publishes", None, numbers, f"Nothing was published in the last {FAILURE_DAYS} days.")
    share = (failed + unconfirmed) / finished
    numbers["failure_rate_percent"] = round(100 * share, 1)
    summary = f"{failed} of {finished} publishes in the last {FAILURE_DAYS} days failed."
    if unconfirmed:
        summary = (f"{failed} of {finished} publishes in the last {FAILURE_DAYS} days failed and {unconfirmed} could "
                   "not be confirmed (they may be live: check them).")
    return Part("failed_publishes", _clamp(100 * (1 - 2 * share)), numbers, summary)


def accounts(scope: Scope, now: dt.datetime) -> Part:
    """Connected accounts whose token is expired, invalid or about to expire.

    A client's score looks at the accounts its posts are published to.
    """
    query = (Account.select(Account.id, Account.status, Account.token_expires_at, Account.username,
                            Account.external_id, Account.platform)
             .where((Account.workspace == scope.workspace_id) & (Account.status != "disconnected")))
    if scope.client is not None:
        # The client's account ids first, from the tasks counted per client and account (kept by triggers):
        # as one ``IN (tasks JOIN posts)`` PostgreSQL planned a nested-loop semi-join over every task of
        # the workspace (7 s at 1M posts), and even alone the join reads every post of the client.
        used = sorted(account_id for (account_id,) in ClientAccount.select(ClientAccount.account_id)
                      .where((ClientAccount.client_id == scope.client.id) & (ClientAccount.tasks > 0)).tuples())
        query = query.where(Account.id.in_(used))
    rows = list(query.namedtuples())  # values only: a model instance per account cost more than the rest
    soon = now + dt.timedelta(days=EXPIRING_DAYS)
    broken, expiring = [], []
    for row in rows:
        if row.status in ("expired", "invalid") or (row.token_expires_at is not None and row.token_expires_at <= now):
            broken.append(row)
        elif row.token_expires_at is not None and row.token_expires_at <= soon:
            expiring.append(row)
    numbers = {"accounts": len(rows), "expired_or_invalid": len(broken), "expiring_soon": len(expiring),
               "expiring_within_days": EXPIRING_DAYS, "healthy": len(rows) - len(broken) - len(expiring)}
    if not rows:
        whose = "this client's posts use" if scope.client is not None else "is connected"
        return Part("accounts", None, numbers, f"No account {whose}.")
    score = _clamp(100 * (1 - (len(broken) + 0.5 * len(expiring)) / len(rows)))
    if not broken and not expiring:
        return Part("accounts", score, numbers, f"All {len(rows)} accounts have working tokens.")
    names = ", ".join(f"@{row.username or row.external_id} ({row.platform})" for row in broken + expiring)
    return Part("accounts", score, numbers,
                f"{len(broken)} expired or invalid and {len(expiring)} expiring within {EXPIRING_DAYS} days: "
                f"{names}. Reconnect them with POST /v1/accounts.")


def _interactions_per_post(posts: int, total: int) -> tuple[int, float]:
    if not posts:
        return 0, 0.0
    return posts, round(total / posts, 2)


def engagement_trend(figures: Figures) -> Part:
    """Interactions per post for posts that went out in the last 30 days, against the 30 days before."""
    current_posts, current = _interactions_per_post(*figures.engagement)
    previous_posts, previous = _interactions_per_post(*figures.previous_engagement)
    numbers = {"window_days": TREND_DAYS, "posts": current_posts, "interactions_per_post": current,
               "previous_posts": previous_posts, "previous_interactions_per_post": previous, "change_percent": None}
    if not current_posts or not previous_posts:
        missing = "the last" if not current_posts else "the previous"
        return Part("engagement_trend", None, numbers,
                    f"No engagement recorded for posts of {missing} {TREND_DAYS} days to compare.")
    ratio = current / previous if previous else (1.0 if not current else 2.0)
    numbers["change_percent"] = round(100 * (ratio - 1), 1) if previous else None
    direction = "up" if current > previous else "down" if current < previous else "unchanged"
    return Part("engagement_trend", _clamp(100 * min(1.0, ratio)), numbers,
                f"{current} interactions per post over the last {TREND_DAYS} days against {previous} the "
                f"{TREND_DAYS} days before ({direction}).")


def health(workspace: Workspace, now: dt.datetime, client: Client | None = None) -> dict[str, Any]:
    """The health score of ``workspace`` (or of its ``client``) at ``now`` (the runtime's clock) with its parts."""
    scope = Scope(workspace.id, client)
    figures = Figures.read(scope, now)
    parts = [cadence(scope, posts_per_week(workspace), figures), approval_backlog(scope, now),
             failed_publishes(figures), accounts(scope, now), engagement_trend(figures)]
    judged = [part for part in parts if part.score is not None]
    total = _clamp(sum(part.score * WEIGHTS[part.name] for part in judged)
                   / sum(WEIGHTS[part.name] for part in judged))
    status = "healthy" if total >= 80 else "needs_attention" if total >= 50 else "at_risk"
    return {"score": total, "status": status, "workspace_id": workspace.id,
            "client_id": client.id if client is not None else None, "computed_at": isoformat(now),
            "parts": [part.to_dict() for part in parts]}
