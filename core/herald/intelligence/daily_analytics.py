"""Daily analytics of a workspace (or one client) over the last N days, as the analytics CSV shows them.

Days are calendar days in the client's time zone (for one client) or the workspace's (default
UTC), ending today. Every day of the period is present, with zeros when nothing happened.

- ``posts_created``: posts whose ``created_at`` falls on the day.
- ``posts_published``: posts whose ``published_at`` (their first successful publish) falls on the day.
- ``failed_publishes``: publish tasks that failed for good on the day.
- ``unconfirmed_publishes``: publish tasks that ended ``unconfirmed`` on the day (they may be live:
  the user must check them), beside the failed ones: both need the user's attention.
- ``likes`` … ``reach``: each post's latest engagement snapshot, counted once, on the day the post
  went out (see :mod:`herald.publishing.engagement_figures`).
- ``engagement_rate``: (likes + comments + saves + shares) / reach, in percent; 0 when reach is 0.

The figures come from the aggregates (:mod:`herald.db.daily_figures`), whatever the number of posts: a
day's figures are the totals counted before its end minus those counted before its start (local
midnights, as UTC moments). A total before a moment is the whole UTC days before it (``daily_figures``)
plus the whole hours of its own UTC day up to it (``hourly_figures``; or, past noon, the whole days up
to its day's end minus the hours after it, so at most 12 hours per midnight). In UTC that is the days
alone; in a zone a whole number of hours off UTC (DST included) days and hours; only a midnight 30 or
45 minutes off the hour (Asia/Kolkata, Asia/Kathmandu, Lord Howe's DST) has the rows of that part of
its hour read one by one.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import peewee as pw

from ..db.models import DailyFigures, HourlyFigures, Post, PublishTask
from ..publishing import tasks
from ..publishing.engagement_figures import INTERACTIONS, attributed_at, latest_by_post, rate
from .period_figures import DAY, HOUR, ceil, floor

COLUMNS = ["date", "posts_created", "posts_published", "failed_publishes", "unconfirmed_publishes", "likes",
           "comments", "saves", "shares", "reach", "engagement_rate"]
METRICS = ("likes", "comments", "saves", "shares", "reach")


@dataclasses.dataclass
class Day:
    """The figures of one day."""

    date: dt.date
    posts_created: int = 0
    posts_published: int = 0
    failed_publishes: int = 0
    unconfirmed_publishes: int = 0
    likes: int = 0
    comments: int = 0
    saves: int = 0
    shares: int = 0
    reach: int = 0

    def row(self) -> list:
        """The CSV row, in :data:`COLUMNS` order."""
        interactions = sum(getattr(self, name) for name in INTERACTIONS)
        return [self.date.isoformat(), self.posts_created, self.posts_published, self.failed_publishes,
                self.unconfirmed_publishes, self.likes, self.comments, self.saves, self.shares, self.reach,
                f"{rate(interactions, self.reach):.2f}"]


def _utc(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """Local midnight starting ``day`` in ``zone``, as a naive UTC datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)


def daily(workspace_id: int, period: int, *, client_id: int | None = None, timezone: str = "UTC",
          now: dt.datetime) -> list[Day]:
    """The last ``period`` days up to ``now`` (the runtime's clock; today included) of the workspace,
    or of ``client_id``, oldest first."""
    zone = ZoneInfo(timezone)
    today = now.replace(tzinfo=dt.UTC).astimezone(zone).date()
    first = today - dt.timedelta(days=period - 1)
    dates = [first + dt.timedelta(days=offset) for offset in range(period)]
    midnights = [_utc(date, zone) for date in [*dates, today + dt.timedelta(days=1)]]
    totals = _totals_before(workspace_id, client_id, midnights)
    days = []
    for index, date in enumerate(dates):
        day = Day(date)
        for name in FIGURES:
            setattr(day, name, totals[index + 1][name] - totals[index][name])
        days.append(day)
    return days


FIGURES = {"posts_created": "posts_created", "posts_published": "posts_published",
           "failed_publishes": "tasks_failed", "unconfirmed_publishes": "tasks_unconfirmed",
           **{name: name for name in METRICS}}
TWELVE_HOURS = dt.timedelta(hours=12)


@dataclasses.dataclass(frozen=True)
class _Total:
    """How the total before a moment ``m`` is read: the whole UTC days before ``days_to``, then ``sign`` ×
    the whole hours of ``hours`` and the rows of ``rows`` (pieces of ``m``'s own UTC day and hour)."""

    days_to: dt.date
    hours: tuple[dt.datetime, dt.datetime]
    rows: tuple[dt.datetime, dt.datetime]
    sign: int


def _total_of(moment: dt.datetime) -> _Total:
    """Before ``moment``: the days before its day plus the hours and rows of its day up to it, or (when
    it is in the second half of its UTC day) the days up to its day's end minus the rest of the day,
    so at most 12 hours are read for it."""
    day, hour = floor(moment, DAY), floor(moment, HOUR)
    if hour - day < TWELVE_HOURS:
        return _Total(day.date(), (day, hour), (hour, moment), 1)
    return _Total((day + DAY).date(), (ceil(moment, HOUR), day + DAY), (moment, ceil(moment, HOUR)), -1)


def _totals_before(workspace_id: int, client_id: int | None, moments: list[dt.datetime]) -> list[dict[str, int]]:
    """The figures counted before each of ``moments`` (ascending), from the first one's UTC day on: the
    figures of ``[moments[i], moments[i + 1])`` are the difference of two. Whole UTC days come from
    ``daily_figures``, whole hours from ``hourly_figures``; only a moment not on the hour (a local
    midnight 30 or 45 minutes off UTC) has rows of its hour read one by one."""
    plans = [_total_of(moment) for moment in moments]
    base = plans[0].days_to if plans[0].sign == 1 else floor(moments[0], DAY).date()
    by_day = _sums(DailyFigures, DailyFigures.day, workspace_id, client_id,
                   [(base, max(plan.days_to for plan in plans))])
    by_hour = _sums(HourlyFigures, HourlyFigures.hour, workspace_id, client_id,
                    [plan.hours for plan in plans if plan.hours[0] < plan.hours[1]])
    by_piece = [dict.fromkeys(FIGURES, 0) for _ in plans]
    pieces = [(plan.rows, into) for plan, into in zip(plans, by_piece, strict=True) if plan.rows[0] < plan.rows[1]]
    if pieces:
        starts = [low for (low, _high), _into in pieces]
        for moment, name, value in _row_figures(workspace_id, client_id, [piece for piece, _into in pieces]):
            pieces[bisect.bisect_right(starts, moment) - 1][1][name] += value
    before_day = {base: dict.fromkeys(FIGURES, 0)}  # running sums of the whole days before each day
    day = base
    while day < max(plan.days_to for plan in plans):
        following = day + dt.timedelta(days=1)
        before_day[following] = {name: before_day[day][name] + by_day.get(day, {}).get(name, 0) for name in FIGURES}
        day = following
    totals = []
    for plan, rows in zip(plans, by_piece, strict=True):
        low, high = plan.hours
        hours = [by_hour[low + offset * HOUR] for offset in range(int((high - low) / HOUR))
                 if low + offset * HOUR in by_hour]
        totals.append({name: before_day[plan.days_to][name]
                       + plan.sign * (sum(hour[name] for hour in hours) + rows[name]) for name in FIGURES})
    return totals


def _sums(model, key, workspace_id: int, client_id: int | None, ranges: list[tuple]) -> dict:
    """``{key: {figure: sum}}`` of ``model``'s rows with ``key`` in one of ``ranges`` (each ``[low, high)``),
    summed over the clients of the workspace or of ``client_id`` only."""
    if not ranges:
        return {}
    # The workspace in every term: each is one range of the (workspace, key, client) index.
    within = _any((model.workspace_id == workspace_id) & (key >= low) & (key < high) for low, high in ranges)
    sums = [pw.fn.SUM(getattr(model, column)).alias(name) for name, column in FIGURES.items()]
    query = model.select(key, *sums).where(within).group_by(key)
    if client_id is not None:
        query = query.where(model.client_id == client_id)
    return {row[key.name]: {name: int(row[name] or 0) for name in FIGURES} for row in query.dicts()}


def _any(terms) -> pw.Node:
    """``term OR term OR …``, flat: a year's 366 terms nested two by two overflow SQLite's parser stack."""
    return pw.NodeList(list(terms), glue=" OR ", parens=True)


def _row_figures(workspace_id: int, client_id: int | None, pieces: list[tuple[dt.datetime, dt.datetime]]):
    """``(moment, figure, value)`` for what each row in the ``pieces`` (each ``[start, end)``) counts:
    one query per figure, an index range per piece."""
    def within(workspace, moment) -> pw.Expression:
        # The workspace in every term: each is then one range of a (workspace, moment) index.
        return _any((workspace == workspace_id) & (moment >= low) & (moment < high) for low, high in pieces)

    def posts(*fields):
        query = Post.select(Post.id, *fields)
        return query.where(Post.client == client_id) if client_id is not None else query

    for post in posts(Post.created_at).where(within(Post.workspace, Post.created_at)):
        yield post.created_at, "posts_created", 1
    for post in posts(Post.published_at).where(within(Post.workspace, Post.published_at)):
        yield post.published_at, "posts_published", 1
    ended = (PublishTask.select(PublishTask.status, PublishTask.updated_at).join(Post)
             .where(within(PublishTask.workspace, PublishTask.updated_at)
                    & PublishTask.status.in_([tasks.FAILED, tasks.UNCONFIRMED])))
    if client_id is not None:
        ended = ended.where(Post.client == client_id)
    for task in ended:
        yield task.updated_at, "failed_publishes" if task.status == tasks.FAILED else "unconfirmed_publishes", 1

    attributed = list(posts(Post.published_at, Post.scheduled_at, Post.created_at)
                      .where(within(Post.workspace, attributed_at())))
    latest = latest_by_post(post.id for post in attributed)
    for post in attributed:
        snapshot = latest.get(post.id)
        if snapshot is not None:
            for name in METRICS:
                yield post.published_at or post.scheduled_at or post.created_at, name, getattr(snapshot, name) or 0
