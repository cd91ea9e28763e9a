"""Figures over a period, read from ``daily_figures`` (see :mod:`herald.db.daily_figures`) for the whole
UTC days inside it and from the rows themselves for the partial days at its edges.

A report's period rarely starts or ends at midnight UTC (the health scores look back 28 or 30 days
from now), so :func:`split` cuts it into whole days, summed from the aggregates whatever the number
of posts, and at most two pieces shorter than a day, read by short index walks: posts by
(workspace, published_at) or by (workspace, the moment they went out), tasks by (workspace,
updated_at), and each post's newest snapshot by one seek on (post, recorded_at, id).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import peewee as pw

from ..db.models import DailyFigures, EngagementSnapshot, Post, PublishTask
from ..publishing.engagement_figures import INTERACTIONS, attributed_at


@dataclasses.dataclass(frozen=True)
class Split:
    """A period ``[start, end)`` as whole UTC days ``first`` … ``last`` (None: no whole day) and the
    pieces left at its edges, each ``(start, end)``."""

    first: dt.date | None
    last: dt.date | None
    edges: tuple[tuple[dt.datetime, dt.datetime], ...]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def split(start: dt.datetime, end: dt.datetime | None) -> Split:
    """Cut ``[start, end)`` (naive UTC; ``end`` None: no end) into whole days and edge pieces."""
    first = start.date() if start == _midnight(start.date()) else start.date() + dt.timedelta(days=1)
    if end is None:
        return Split(first, None, ((start, _midnight(first)),))
    last = end.date() - dt.timedelta(days=1)  # the day holding ``end`` is partial (or begins at it)
    if first > last:
        return Split(None, None, ((start, end),))
    return Split(first, last, ((start, _midnight(first)), (_midnight(end.date()), end)))


def day_sums(workspace_id: int, client_id: int | None, first: dt.date | None, last: dt.date | None,
             columns: tuple[str, ...], *, by_client: bool = False) -> dict:
    """Sums of ``columns`` over the days ``first`` … ``last`` (``last`` None: every later day) of the
    workspace or its client: ``{column: sum}``, or ``{client_id: {column: sum}}`` when ``by_client``."""
    if first is None:
        return {}
    sums = [pw.fn.COALESCE(pw.fn.SUM(getattr(DailyFigures, name)), 0).alias(name) for name in columns]
    query = DailyFigures.select(DailyFigures.client_id, *sums).where(
        (DailyFigures.workspace_id == workspace_id) & (DailyFigures.day >= first))
    if last is not None:
        query = query.where(DailyFigures.day <= last)
    if client_id is not None:
        query = query.where(DailyFigures.client_id == client_id)
    if by_client:
        return {row["client_id"]: {name: int(row[name]) for name in columns}
                for row in query.group_by(DailyFigures.client_id).dicts()}
    row = query.select(*sums).dicts().get()
    return {name: int(row[name] or 0) for name in columns}


def _posts(workspace_id: int, client_id: int | None, *fields) -> pw.ModelSelect:
    query = Post.select(*fields).where(Post.workspace == workspace_id)
    return query.where(Post.client == client_id) if client_id is not None else query


def published_by_client(workspace_id: int, client_id: int | None, start: dt.datetime,
                        end: dt.datetime) -> dict[int | None, int]:
    """Posts published in ``[start, end]`` (both ends included), per client."""
    counts: dict[int | None, int] = {}
    whole = split(start, end)
    for client, sums in day_sums(workspace_id, client_id, whole.first, whole.last, ("posts_published",),
                                 by_client=True).items():
        counts[client or None] = counts.get(client or None, 0) + sums["posts_published"]
    for index, (low, high) in enumerate(whole.edges):
        last_edge = index == len(whole.edges) - 1
        within = (Post.published_at >= low) & ((Post.published_at <= high) if last_edge else (Post.published_at < high))
        query = _posts(workspace_id, client_id, Post.client, pw.fn.COUNT(Post.id)).where(within).group_by(Post.client)
        for client, count in query.tuples():
            counts[client] = counts.get(client, 0) + count
    return {client: count for client, count in counts.items() if count}


def ended_tasks(workspace_id: int, client_id: int | None, since: dt.datetime) -> dict[str, int]:
    """Publish tasks that ended published, failed or unconfirmed, last updated at ``since`` or later:
    ``{status: count}``."""
    columns = {"published": "tasks_published", "failed": "tasks_failed", "unconfirmed": "tasks_unconfirmed"}
    whole = split(since, None)
    sums = day_sums(workspace_id, client_id, whole.first, None, tuple(columns.values()))
    counts = {status: sums.get(column, 0) for status, column in columns.items()}
    for low, high in whole.edges:
        query = (PublishTask.select(PublishTask.status, pw.fn.COUNT(PublishTask.id)).join(Post)
                 .where((PublishTask.workspace == workspace_id) & (Post.workspace == workspace_id)
                        & PublishTask.status.in_(list(columns))
                        & (PublishTask.updated_at >= low) & (PublishTask.updated_at < high))
                 .group_by(PublishTask.status))
        if client_id is not None:
            query = query.where(Post.client == client_id)
        for status, count in query.tuples():
            counts[status] += count
    return counts


def engagement(workspace_id: int, client_id: int | None, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """``(posts, interactions)``: the posts that went out in ``[start, end)`` with engagement, and the
    likes + comments + saves + shares of each one's newest snapshot, added up."""
    whole = split(start, end)
    sums = day_sums(workspace_id, client_id, whole.first, whole.last, ("engaged_posts", *INTERACTIONS))
    posts, total = sums.get("engaged_posts", 0), sum(sums.get(name, 0) for name in INTERACTIONS)
    # Each edge post's newest snapshot by one seek on (post, recorded_at, id): a scalar subquery per
    # row, which both databases run as an index probe (as a join condition PostgreSQL hashed every snapshot).
    snapshot = EngagementSnapshot
    interactions = sum((pw.fn.COALESCE(getattr(snapshot, name), 0) for name in INTERACTIONS[1:]),
                       pw.fn.COALESCE(getattr(snapshot, INTERACTIONS[0]), 0))
    newest = (snapshot.select(interactions).where(snapshot.post == Post.id)
              .order_by(snapshot.recorded_at.desc(), snapshot.id.desc()).limit(1))
    went_out = attributed_at()
    for low, high in whole.edges:
        query = _posts(workspace_id, client_id, newest.alias("interactions")).where((went_out >= low)
                                                                                    & (went_out < high))
        for (value,) in query.tuples():
            if value is not None:
                posts, total = posts + 1, total + int(value)
    return posts, total
