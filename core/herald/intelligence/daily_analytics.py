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

In UTC (the default) the days are those of ``daily_figures`` (:mod:`herald.db.daily_figures`), read
whole: one row per client and day, however many posts. In another time zone a local day straddles
two UTC days but is a run of whole UTC hours when the zone's offset is a whole number of hours (DST
included): its figures are sums of ``hourly_figures``. Only an hour cut by a local midnight (zones 30 or
45 minutes off UTC, such as Asia/Kolkata) is read from the rows themselves, one hour per day at most.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
from zoneinfo import ZoneInfo

import peewee as pw

from ..db.models import DailyFigures, HourlyFigures, Post, PublishTask
from ..publishing import tasks
from ..publishing.engagement_figures import INTERACTIONS, attributed_at, latest_by_post, rate
from .period_figures import HOUR, ceil, floor

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
    start, end = _utc(first, zone), _utc(today + dt.timedelta(days=1), zone)
    days = {first + dt.timedelta(days=offset): Day(first + dt.timedelta(days=offset)) for offset in range(period)}

    if zone.key == "UTC":  # the days are daily_figures' days: read them whole
        return _from_figures(workspace_id, client_id, days)

    def day_of(moment: dt.datetime) -> Day | None:
        return days.get(moment.replace(tzinfo=dt.UTC).astimezone(zone).date())

    midnights = [_utc(first + dt.timedelta(days=offset), zone) for offset in range(period + 1)]
    cut = sorted({floor(moment, HOUR) for moment in midnights if moment != floor(moment, HOUR)})
    _from_hours(workspace_id, client_id, ceil(start, HOUR), floor(end, HOUR), set(cut), day_of)
    if cut:
        _scan(workspace_id, client_id, [(max(hour, start), min(hour + HOUR, end)) for hour in cut], day_of)
    return [days[key] for key in sorted(days)]


def _scan(workspace_id: int, client_id: int | None, pieces: list[tuple[dt.datetime, dt.datetime]], day_of) -> None:
    """Add what the rows of the ``pieces`` (each ``[start, end)``) count to the days ``day_of`` gives
    for their moments: one query per figure, an index range per piece."""
    def within(workspace, moment) -> pw.Expression:
        # The workspace in every term: each is then one range of a (workspace, moment) index.
        return functools.reduce(operator.or_, ((workspace == workspace_id) & (moment >= low) & (moment < high)
                                               for low, high in pieces))

    def posts(*fields):
        query = Post.select(Post.id, *fields)
        return query.where(Post.client == client_id) if client_id is not None else query

    for post in posts(Post.created_at).where(within(Post.workspace, Post.created_at)):
        day_of(post.created_at).posts_created += 1
    for post in posts(Post.published_at).where(within(Post.workspace, Post.published_at)):
        day_of(post.published_at).posts_published += 1
    ended = (PublishTask.select(PublishTask.status, PublishTask.updated_at).join(Post)
             .where(within(PublishTask.workspace, PublishTask.updated_at)
                    & PublishTask.status.in_([tasks.FAILED, tasks.UNCONFIRMED])))
    if client_id is not None:
        ended = ended.where(Post.client == client_id)
    for task in ended:
        if task.status == tasks.FAILED:
            day_of(task.updated_at).failed_publishes += 1
        else:
            day_of(task.updated_at).unconfirmed_publishes += 1

    attributed = list(posts(Post.published_at, Post.scheduled_at, Post.created_at)
                      .where(within(Post.workspace, attributed_at())))
    latest = latest_by_post(post.id for post in attributed)
    for post in attributed:
        snapshot = latest.get(post.id)
        day = day_of(post.published_at or post.scheduled_at or post.created_at)
        if snapshot is None or day is None:
            continue
        for name in METRICS:
            setattr(day, name, getattr(day, name) + (getattr(snapshot, name) or 0))


FIGURES = {"posts_created": "posts_created", "posts_published": "posts_published",
           "failed_publishes": "tasks_failed", "unconfirmed_publishes": "tasks_unconfirmed",
           **{name: name for name in METRICS}}


def _from_figures(workspace_id: int, client_id: int | None, days: dict[dt.date, Day]) -> list[Day]:
    """The UTC ``days`` filled from ``daily_figures`` (one row per client and day; summed for a workspace)."""
    first, last = min(days), max(days)
    sums = [pw.fn.SUM(getattr(DailyFigures, column)).alias(name) for name, column in FIGURES.items()]
    query = (DailyFigures.select(DailyFigures.day, *sums)
             .where((DailyFigures.workspace_id == workspace_id) & (DailyFigures.day >= first)
                    & (DailyFigures.day <= last))
             .group_by(DailyFigures.day))
    if client_id is not None:
        query = query.where(DailyFigures.client_id == client_id)
    for row in query.dicts():
        day = days[dt.date.fromisoformat(str(row["day"])[:10])]
        for name in FIGURES:
            setattr(day, name, int(row[name] or 0))
    return [days[key] for key in sorted(days)]


def _from_hours(workspace_id: int, client_id: int | None, start: dt.datetime, end: dt.datetime,
                skipped: set[dt.datetime], day_of) -> None:
    """Add the ``hourly_figures`` of the whole UTC hours in ``[start, end)`` but ``skipped`` (summed over
    clients for a workspace) to the days ``day_of`` gives for them."""
    sums = [pw.fn.SUM(getattr(HourlyFigures, column)).alias(name) for name, column in FIGURES.items()]
    query = (HourlyFigures.select(HourlyFigures.hour, *sums)
             .where((HourlyFigures.workspace_id == workspace_id) & (HourlyFigures.hour >= start)
                    & (HourlyFigures.hour < end))
             .group_by(HourlyFigures.hour))
    if client_id is not None:
        query = query.where(HourlyFigures.client_id == client_id)
    for row in query.dicts():
        hour = row["hour"]
        if hour in skipped:
            continue
        day = day_of(hour)
        for name in FIGURES:
            setattr(day, name, getattr(day, name) + int(row[name] or 0))
