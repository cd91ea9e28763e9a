"""Figures over a period, read from ``daily_figures`` for the whole UTC days inside it, from
``hourly_figures`` for the whole UTC hours of its edge days (see :mod:`herald.db.daily_figures`), and
from the rows themselves for the partial hours at its very edges.

A report's period rarely starts or ends on the hour (the health scores look back 28 or 30 days from
now), so :func:`split` cuts it into whole days, whole hours and at most two pieces shorter than an
hour: the days and hours are summed from the aggregates whatever the number of posts (at most 31 + 46
rows per client), the pieces read by short index walks: posts by (workspace, published_at) or by
(workspace, the moment they went out), tasks by (workspace, updated_at), and each post's newest
snapshot by one seek on (post, recorded_at, id).

A :class:`Reading` reads the figures of several periods together (the health scores' five): one
statement for the days of all of them, one for the hours, one per kind of figure for the pieces.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator

import peewee as pw

from ..db.models import POST_PUBLISHED_INDEX, DailyFigures, EngagementSnapshot, HourlyFigures, Post, PublishTask, db
from ..db.prepared_statements import Prepared
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


@dataclasses.dataclass
class Wanted:
    """One figure a :class:`Reading` reads: ``value`` is set by :meth:`Reading.read`."""

    whole: Split
    columns: tuple[str, ...]
    value: object = None


class Reading:
    """Figures of a workspace (or of its client) over several periods, read together.

    Ask with :meth:`published_by_client`, :meth:`ended_tasks` and :meth:`engagement` (each returns a
    :class:`Wanted`), then :meth:`read` once: the whole days of every period are one statement over
    ``daily_figures`` and their whole hours one over ``hourly_figures`` (sums per client and segment,
    see :func:`sums`), and the partial hours one statement per kind of figure (``UNION ALL`` of one
    index walk per piece). Health reads its four periods in 5 statements instead of 18.
    """

    def __init__(self, workspace_id: int, client_id: int | None):
        self.workspace_id, self.client_id = workspace_id, client_id
        self._published: list[Wanted] = []
        self._ended: list[Wanted] = []
        self._engagement: list[Wanted] = []

    def published_by_client(self, start: dt.datetime, end: dt.datetime) -> Wanted:
        """Posts published in ``[start, end]`` (both ends included), per client: ``{client_id: count}``
        without the clients at 0."""
        # Stored times have microseconds at most: [start, end] is [start, end + 1 µs).
        wanted = Wanted(split(start, end + dt.timedelta(microseconds=1)), ("posts_published",))
        self._published.append(wanted)
        return wanted

    def ended_tasks(self, since: dt.datetime) -> Wanted:
        """Publish tasks that ended published, failed or unconfirmed, last updated at ``since`` or later:
        ``{status: count}``."""
        wanted = Wanted(split(since, None), tuple(ENDED_COLUMNS.values()))
        self._ended.append(wanted)
        return wanted

    def engagement(self, start: dt.datetime, end: dt.datetime) -> Wanted:
        """``(posts, interactions)``: the posts that went out in ``[start, end)`` with engagement, and the
        likes + comments + saves + shares of each one's newest snapshot, added up."""
        wanted = Wanted(split(start, end), ("engaged_posts", *INTERACTIONS))
        self._engagement.append(wanted)
        return wanted

    def read(self) -> None:
        """Run the statements and set every asked figure's ``value``."""
        everything = [*self._published, *self._ended, *self._engagement]
        found = sums(self.workspace_id, self.client_id, [(wanted.whole, wanted.columns) for wanted in everything])
        by_wanted = dict(zip(map(id, everything), found, strict=True))
        self._read_published(by_wanted)
        self._read_ended(by_wanted)
        self._read_engagement(by_wanted)

    def _read_published(self, by_wanted: dict) -> None:
        pieces = _pieces(self._published)
        rows = self._each_piece("published", pieces)
        for wanted in self._published:
            counts: dict[int | None, int] = {}
            for client, found in by_wanted[id(wanted)].items():
                counts[client or None] = counts.get(client or None, 0) + found["posts_published"]
            mine = {pieces.index(piece) for piece in wanted.whole.edges}
            for piece, client, count in rows:
                if piece in mine:
                    counts[client] = counts.get(client, 0) + count
            wanted.value = {client: count for client, count in counts.items() if count}

    def _read_ended(self, by_wanted: dict) -> None:
        pieces = _pieces(self._ended)
        rows = self._each_piece("ended", pieces)
        for wanted in self._ended:
            found = _total(by_wanted[id(wanted)], wanted.columns)
            counts = {status: found[column] for status, column in ENDED_COLUMNS.items()}
            mine = {pieces.index(piece) for piece in wanted.whole.edges}
            for piece, status, count in rows:
                if piece in mine:
                    counts[status] += count
            wanted.value = counts

    def _read_engagement(self, by_wanted: dict) -> None:
        pieces = _pieces(self._engagement)
        rows = self._each_piece("engagement", pieces)
        for wanted in self._engagement:
            found = _total(by_wanted[id(wanted)], wanted.columns)
            posts, total = found["engaged_posts"], sum(found[name] for name in INTERACTIONS)
            mine = {pieces.index(piece) for piece in wanted.whole.edges}
            for piece, value in rows:
                if piece in mine and value is not None:
                    posts, total = posts + 1, total + int(value)
            wanted.value = (posts, total)

    def _each_piece(self, kind: str, pieces: list[Range]) -> list[tuple]:
        """The rows of the ``kind`` of :data:`_EDGES` for every piece, in one statement (``UNION ALL``: each
        branch is the index walk of its own range, as a statement of its own would be), each row led by its
        piece's number."""
        if not pieces:
            return []
        shape = (kind, self.client_id is not None, len(pieces))
        statement = _STATEMENTS.get(shape)
        if statement is None:
            statement = _STATEMENTS[shape] = Prepared(Post, lambda param: _union(param, *shape))
        values = {"workspace_id": self.workspace_id, "client_id": self.client_id}
        for number, (low, high) in enumerate(pieces):
            values[f"low_{number}"], values[f"high_{number}"] = low, high
        return [tuple(row) for row in statement.execute(**values).fetchall()]


# Each statement is rendered once per shape (kind, scope, number of ranges, columns) and run again with
# new values (see herald.db.prepared_statements): rendering them through peewee on every request cost
# more CPU than SQLite took to run them. With bench/scale.py's 100k-post deployment (2-core VM,
# 2026-12-07, mean CPU per request over 50, two runs each): workspace health 13.2-13.4 -> 10.5-11.0 ms and
# client health 9.0-9.7 -> 3.7 ms on SQLite, 12.4-13.3 -> 5.7-8.8 and 10.9-13.0 -> 4.0-6.3 on PostgreSQL
# (18 statements of figures -> 5).
_STATEMENTS: dict[tuple, Prepared] = {}


def _scoped(param, model, scoped: bool) -> pw.Expression:
    """The workspace (and client, when ``scoped``) of rows of ``model`` (``post`` or a figures table)."""
    mine = model.workspace_id == param(model.workspace_id, "workspace_id")
    return mine & (model.client_id == param(model.client_id, "client_id")) if scoped else mine


def _published_piece(param, scoped: bool, number: int, low, high) -> pw.ModelSelect:
    query = (Post.select(pw.Value(number), Post.client, pw.fn.COUNT(Post.id))
             .where(_scoped(param, Post, scoped) & _within(Post.published_at, low, high)).group_by(Post.client))
    if isinstance(db.obj, pw.SqliteDatabase):
        # Walked by (workspace, published_at): after ANALYZE of 1M posts SQLite chose a skip-scan of the
        # portal's (client, status, published_at) index instead, 0.32 ms a piece where the walk takes 0.025.
        query = query.from_(pw.NodeList((Post, pw.SQL(f"INDEXED BY {POST_PUBLISHED_INDEX}"))))
    return query


def _ended_piece(param, scoped: bool, number: int, low, high) -> pw.ModelSelect:
    query = (PublishTask.select(pw.Value(number), PublishTask.status, pw.fn.COUNT(PublishTask.id)).join(Post)
             .where((PublishTask.workspace == param(PublishTask.workspace, "workspace_id"))
                    & _scoped(param, Post, scoped) & PublishTask.status.in_(list(ENDED_COLUMNS))
                    & _within(PublishTask.updated_at, low, high))
             .group_by(PublishTask.status))
    return query


def _engagement_piece(param, scoped: bool, number: int, low, high) -> pw.ModelSelect:
    # Each edge post's newest snapshot by one seek on (post, recorded_at, id): a scalar subquery per row,
    # which both databases run as an index probe (as a join condition PostgreSQL hashed every snapshot).
    return (Post.select(pw.Value(number), _newest_interactions())
            .where(_scoped(param, Post, scoped) & _within(attributed_at(), low, high)))


_EDGES = {"published": (_published_piece, Post.published_at), "ended": (_ended_piece, PublishTask.updated_at),
          # the moment a post went out is a COALESCE of timestamps: they convert as any of them does
          "engagement": (_engagement_piece, Post.published_at)}


def _union(param, kind: str, scoped: bool, count: int) -> pw.SelectBase:
    select, field = _EDGES[kind]
    query = None
    for number in range(count):
        branch = select(param, scoped, number, param(field, f"low_{number}"), param(field, f"high_{number}"))
        query = branch if query is None else query + branch
    return query


ENDED_COLUMNS = {"published": "tasks_published", "failed": "tasks_failed", "unconfirmed": "tasks_unconfirmed"}


def _pieces(wanted: list[Wanted]) -> list[Range]:
    """The partial hours of every asked period, each once, in order."""
    return sorted({piece for one in wanted for piece in one.whole.edges})


def _within(expression, low, high) -> pw.Expression:
    return (expression >= low) & (expression < high)


def _total(by_client: dict, columns: tuple[str, ...]) -> dict[str, int]:
    return {name: sum(row[name] for row in by_client.values()) for name in columns}


def _newest_interactions() -> pw.ModelSelect:
    """A scalar subquery: likes + comments + saves + shares of the post's newest snapshot (as bigint:
    each count fits PostgreSQL's integer, their sum may not)."""
    snapshot = EngagementSnapshot
    interactions = sum((pw.Cast(pw.fn.COALESCE(getattr(snapshot, name), 0), "BIGINT") for name in INTERACTIONS[1:]),
                       pw.Cast(pw.fn.COALESCE(getattr(snapshot, INTERACTIONS[0]), 0), "BIGINT"))
    return (snapshot.select(interactions).where(snapshot.post == Post.id)
            .order_by(snapshot.recorded_at.desc(), snapshot.id.desc()).limit(1))


def sums(workspace_id: int, client_id: int | None, wanted: list[tuple[Split, tuple[str, ...]]]) -> list[dict]:
    """For each ``(whole, columns)`` of ``wanted``, the sums of ``columns`` over the whole days and hours
    of ``whole`` for the workspace or its client, per client: ``{client_id: {column: sum}}``.

    One statement over ``daily_figures`` and one over ``hourly_figures`` for all of them. The start and
    end of every period's days (or hours) cut the time into segments that each period covers whole or
    not at all; the statement sums every column per client for each segment some period covers (a
    ``UNION ALL`` of one index walk a segment, ``GROUP BY client_id``), and each period adds up its
    segments. (A conditional sum per period and column took SQLite 4.2 ms for health's four periods
    where the segments took 2.5 at 100k posts; one statement grouping by ``CASE WHEN day < ? THEN 0 …``
    2.7 ms where the walk a segment takes 1.8, at 1M.)"""
    found: list[dict] = [{} for _ in wanted]
    for model in (DailyFigures, HourlyFigures):
        ranges = [_days(whole) if model is DailyFigures else list(whole.hours) for whole, _ in wanted]
        asked = [number for number, of in enumerate(ranges) if of]
        if not asked:
            continue
        cuts = sorted({moment for number in asked for one in ranges[number] for moment in one if moment is not None})
        # segment i is [cuts[i - 1], cuts[i]) (after the last cut: no end); none lies before the first
        covers = {number: {segment for segment in range(1, len(cuts) + 1)
                           if any(low <= cuts[segment - 1]
                                  and (high is None or (segment < len(cuts) and cuts[segment] <= high))
                                  for low, high in ranges[number])}
                  for number in asked}
        segments = sorted(set().union(*covers.values()))
        columns = tuple(dict.fromkeys(name for number in asked for name in wanted[number][1]))
        shape = (model.__name__, client_id is not None, columns, len(segments), segments[-1] == len(cuts))
        statement = _STATEMENTS.get(shape)
        if statement is None:
            statement = _STATEMENTS[shape] = Prepared(
                model, lambda param, model=model, shape=shape: _sums_query(param, model, *shape[1:]))
        values = {"workspace_id": workspace_id, "client_id": client_id}
        for branch, segment in enumerate(segments):
            values[f"low_{branch}"] = cuts[segment - 1]
            if segment < len(cuts):
                values[f"high_{branch}"] = cuts[segment]
        for client, branch, *totals in statement.execute(**values).fetchall():
            segment = segments[branch]
            by_name = dict(zip(columns, totals, strict=True))
            for number in asked:
                if segment in covers[number]:
                    into = found[number].setdefault(client, dict.fromkeys(wanted[number][1], 0))
                    for name in wanted[number][1]:
                        into[name] += int(by_name[name] or 0)
    return found


def _days(whole: Split) -> list[tuple[dt.date, dt.date | None]]:
    """The whole days of ``whole`` as one range ``[first, day after last)`` (None: no end), or none."""
    if whole.first is None:
        return []
    return [(whole.first, whole.last + DAY if whole.last is not None else None)]


def _sums_query(param, model, scoped: bool, columns: tuple[str, ...], segments: int,
                open_ended: bool) -> pw.SelectBase:
    """The statement of :func:`sums` for ``model``: ``columns`` summed per client over each of ``segments``
    ranges of the key (the last without an end when ``open_ended``), each row led by its client and the
    number of its range.

    On SQLite a ``UNION ALL`` of one index walk a range, each grouped by client; PostgreSQL plans that
    union as a parallel append whose workers take 5 ms to start where the statement takes 1, so there
    the ranges are one walk grouped by client and ``CASE WHEN key < end of range 0 THEN 0 …``."""
    key = model.day if model is DailyFigures else model.hour
    totals = [pw.fn.SUM(getattr(model, name)) for name in columns]
    ranges = []
    for branch in range(segments):
        condition = _scoped(param, model, scoped) & (key >= param(key, f"low_{branch}"))
        if branch < segments - 1 or not open_ended:
            condition &= key < param(key, f"high_{branch}")
        ranges.append(condition)
    if isinstance(db.obj, pw.PostgresqlDatabase):
        number = (pw.Case(None, [(key < param(key, f"high_{branch}"), branch) for branch in range(segments - 1)],
                          segments - 1) if segments > 1 else pw.Value(0))
        return (model.select(model.client_id, number.alias("branch"), *totals)
                .where(functools.reduce(operator.or_, ranges)).group_by(model.client_id, pw.SQL("branch")))
    branches = [model.select(model.client_id, pw.Value(branch), *totals).where(condition).group_by(model.client_id)
                for branch, condition in enumerate(ranges)]
    return functools.reduce(operator.add, branches)


def _one(workspace_id: int, client_id: int | None, ask):
    reading = Reading(workspace_id, client_id)
    wanted = ask(reading)
    reading.read()
    return wanted.value


def published_by_client(workspace_id: int, client_id: int | None, start: dt.datetime,
                        end: dt.datetime) -> dict[int | None, int]:
    """Posts published in ``[start, end]`` (both ends included), per client (see :class:`Reading`)."""
    return _one(workspace_id, client_id, lambda reading: reading.published_by_client(start, end))


def ended_tasks(workspace_id: int, client_id: int | None, since: dt.datetime) -> dict[str, int]:
    """Publish tasks that ended published, failed or unconfirmed, last updated at ``since`` or later:
    ``{status: count}`` (see :class:`Reading`)."""
    return _one(workspace_id, client_id, lambda reading: reading.ended_tasks(since))


def engagement(workspace_id: int, client_id: int | None, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """``(posts, interactions)`` of the posts that went out in ``[start, end)`` (see :class:`Reading`)."""
    return _one(workspace_id, client_id, lambda reading: reading.engagement(start, end))
