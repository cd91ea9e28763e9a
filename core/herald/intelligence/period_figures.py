"""Figures over a period, read from ``daily_figures`` for the whole UTC days inside it, from
``hourly_figures`` for the whole UTC hours of its edge days (see :mod:`herald.db.daily_figures`), and
from the rows themselves for the partial hours at its very edges.

A report's period rarely starts or ends on the hour (the health scores look back 28 or 30 days from
now), so :func:`split` cuts it into whole days, whole hours and at most two pieces shorter than an
hour: the days and hours are summed from the aggregates whatever the number of posts (at most 31 + 46
rows per client), the pieces read by short index walks: posts by (workspace, published_at) or by
(workspace, the moment they went out), tasks by (workspace, updated_at), and each post's newest
snapshot by one seek on (post, recorded_at, id).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import peewee as pw

from ..db.models import DailyFigures, EngagementSnapshot, HourlyFigures, Post, PublishTask
from ..publishing.engagement_figures import INTERACTIONS, attributed_at

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
Range = tuple[dt.datetime, dt.datetime]


@dataclasses.dataclass(frozen=True)
class Split:
    """A period ``[start, end)`` as whole UTC days ``first`` … ``last`` (None: no whole day; ``last``
    None: every day from ``first`` on), ranges of whole UTC hours ``[from, to)`` (of their starts) and
    the pieces shorter than an hour left at its edges, each ``(start, end)``."""

    first: dt.date | None
    last: dt.date | None
    hours: tuple[Range, ...]
    edges: tuple[Range, ...]


def floor(moment: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    """The start of the UTC day or hour (``unit``) holding ``moment``."""
    if unit == DAY:
        return dt.datetime.combine(moment.date(), dt.time())
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil(moment: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    """The first start of a UTC day or hour (``unit``) at ``moment`` or later."""
    start = floor(moment, unit)
    return start if start == moment else start + unit


def _hours_and_edges(low: dt.datetime, high: dt.datetime) -> tuple[list[Range], list[Range]]:
    """``[low, high)`` as one range of whole hours (or none) and the pieces around it."""
    first, last = ceil(low, HOUR), floor(high, HOUR)
    if first >= last:
        return [], [(low, high)] if low < high else []
    return [(first, last)], [(a, b) for a, b in ((low, first), (last, high)) if a < b]


def split(start: dt.datetime, end: dt.datetime | None) -> Split:
    """Cut ``[start, end)`` (naive UTC; ``end`` None: no end) into whole days, whole hours and edge pieces."""
    days_from = ceil(start, DAY)
    days_to = floor(end, DAY) if end is not None else None
    if days_to is not None and days_from >= days_to:
        hours, edges = _hours_and_edges(start, end)
        return Split(None, None, tuple(hours), tuple(edges))
    hours, edges = _hours_and_edges(start, days_from)
    if days_to is not None:
        tail_hours, tail_edges = _hours_and_edges(days_to, end)
        hours, edges = hours + tail_hours, edges + tail_edges
    last = (days_to - DAY).date() if days_to is not None else None
    return Split(days_from.date(), last, tuple(hours), tuple(edges))


def sums(workspace_id: int, client_id: int | None, whole: Split, columns: tuple[str, ...], *,
         by_client: bool = False) -> dict:
    """Sums of ``columns`` over the whole days and hours of ``whole`` for the workspace or its client:
    ``{column: sum}``, or ``{client_id: {column: sum}}`` when ``by_client``."""
    queries = []
    if whole.first is not None:
        query = _figures(DailyFigures, workspace_id, client_id, columns).where(DailyFigures.day >= whole.first)
        queries.append(query.where(DailyFigures.day <= whole.last) if whole.last is not None else query)
    queries += [_figures(HourlyFigures, workspace_id, client_id, columns)
                .where((HourlyFigures.hour >= low) & (HourlyFigures.hour < high)) for low, high in whole.hours]
    found: dict = {}
    for query in queries:
        for row in query.group_by(query.model.client_id).dicts():
            into = found.setdefault(row["client_id"], dict.fromkeys(columns, 0))
            for name in columns:
                into[name] += int(row[name] or 0)
    if by_client:
        return found
    return {name: sum(row[name] for row in found.values()) for name in columns}


def _figures(model, workspace_id: int, client_id: int | None, columns: tuple[str, ...]) -> pw.ModelSelect:
    summed = [pw.fn.SUM(getattr(model, name)).alias(name) for name in columns]
    query = model.select(model.client_id, *summed).where(model.workspace_id == workspace_id)
    return query.where(model.client_id == client_id) if client_id is not None else query


def _posts(workspace_id: int, client_id: int | None, *fields) -> pw.ModelSelect:
    query = Post.select(*fields).where(Post.workspace == workspace_id)
    return query.where(Post.client == client_id) if client_id is not None else query


def published_by_client(workspace_id: int, client_id: int | None, start: dt.datetime,
                        end: dt.datetime) -> dict[int | None, int]:
    """Posts published in ``[start, end]`` (both ends included), per client."""
    counts: dict[int | None, int] = {}
    # Stored times have microseconds at most: [start, end] is [start, end + 1 µs).
    whole = split(start, end + dt.timedelta(microseconds=1))
    for client, found in sums(workspace_id, client_id, whole, ("posts_published",), by_client=True).items():
        counts[client or None] = counts.get(client or None, 0) + found["posts_published"]
    for low, high in whole.edges:
        within = (Post.published_at >= low) & (Post.published_at < high)
        query = _posts(workspace_id, client_id, Post.client, pw.fn.COUNT(Post.id)).where(within).group_by(Post.client)
        for client, count in query.tuples():
            counts[client] = counts.get(client, 0) + count
    return {client: count for client, count in counts.items() if count}


def ended_tasks(workspace_id: int, client_id: int | None, since: dt.datetime) -> dict[str, int]:
    """Publish tasks that ended published, failed or unconfirmed, last updated at ``since`` or later:
    ``{status: count}``."""
    columns = {"published": "tasks_published", "failed": "tasks_failed", "unconfirmed": "tasks_unconfirmed"}
    whole = split(since, None)
    found = sums(workspace_id, client_id, whole, tuple(columns.values()))
    counts = {status: found[column] for status, column in columns.items()}
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
    found = sums(workspace_id, client_id, whole, ("engaged_posts", *INTERACTIONS))
    posts, total = found["engaged_posts"], sum(found[name] for name in INTERACTIONS)
    # Each edge post's newest snapshot by one seek on (post, recorded_at, id): a scalar subquery per
    # row, which both databases run as an index probe (as a join condition PostgreSQL hashed every snapshot).
    snapshot = EngagementSnapshot
    # Each count fits PostgreSQL's integer, their sum may not: add them as bigint.
    interactions = sum((pw.Cast(pw.fn.COALESCE(getattr(snapshot, name), 0), "BIGINT") for name in INTERACTIONS[1:]),
                       pw.Cast(pw.fn.COALESCE(getattr(snapshot, INTERACTIONS[0]), 0), "BIGINT"))
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
