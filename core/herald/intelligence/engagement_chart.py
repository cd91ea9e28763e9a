"""Daily engagement of a set of posts, and the geometry of a bar chart drawn as inline SVG.

Engagement snapshots are cumulative counts (a post's likes so far), so the interactions gained on
a day are the total of every post's latest counts at the end of that day minus the same total at
the end of the day before. The chart is computed here and drawn by a template: no script runs in
the browser.

A client's series is read from the interactions gained per UTC hour (:mod:`herald.db.engagement_hours`:
each snapshot's gain over the post's snapshot before it, by ``recorded_at`` then id, so a snapshot
recorded out of order counts where it belongs); :func:`daily_interactions` walks the snapshots
instead, for zones whose days are not whole UTC hours.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import peewee as pw

from ..db.models import EngagementGainHour, EngagementSnapshot
from ..publishing.engagement_figures import INTERACTIONS
from . import local_hours

WIDTH, HEIGHT = 600, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28  # room for the axis labels


def _period(days: int, now: dt.datetime, zone: dt.tzinfo) -> tuple[dt.date, dt.datetime, dt.datetime]:
    """The first local day of the last ``days`` up to ``now``, and when the first starts and the last
    ends (naive UTC)."""
    today = _local(now, zone).date()
    first = today - dt.timedelta(days=days - 1)

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)

    return first, midnight(first), midnight(today + dt.timedelta(days=1))


def client_daily_interactions(workspace_id: int, client_id: int, statuses: tuple[str, ...], days: int,
                              now: dt.datetime, zone: dt.tzinfo) -> list[tuple[dt.date, int]] | None:
    """What :func:`daily_interactions` answers for the client's posts with one of ``statuses``, read from
    the gains per UTC hour; None when a day of the period is not whole UTC hours in ``zone``."""
    first, start, end = _period(days, now, zone)
    if not (local_hours.on_the_hour(start) and local_hours.on_the_hour(end)):
        return None
    gained = [0] * days
    rows = (EngagementGainHour.select(EngagementGainHour.hour, pw.fn.SUM(EngagementGainHour.interactions))
            .where((EngagementGainHour.workspace_id == workspace_id) & (EngagementGainHour.client_id == client_id)
                   & EngagementGainHour.status.in_(list(statuses))
                   & (EngagementGainHour.hour >= start) & (EngagementGainHour.hour < end))
            .group_by(EngagementGainHour.hour).tuples())
    for hour, interactions in rows:
        local = local_hours.local(hour, zone)
        if local is None:
            return None
        gained[(local.date() - first).days] += int(interactions)
    # A day's gain is the change of the posts' totals over the day; unlikes do not go below 0.
    return [(first + dt.timedelta(days=offset), max(0, value)) for offset, value in enumerate(gained)]


def daily_interactions(post_ids: list[int], days: int, now: dt.datetime,
                       zone: dt.tzinfo = dt.UTC) -> list[tuple[dt.date, int]]:
    """``(day, interactions gained that day)`` for the last ``days`` days, oldest first.

    Days are the calendar days of ``zone`` (the client's), so a reading taken on a Monday evening in
    New York counts for that Monday, not for Tuesday in UTC. ``now`` (the runtime's clock) is naive
    UTC, as stored.
    """
    start, _, end = _period(days, now, zone)
    day_end_totals: list[int | None] = [None] * days  # every post's latest counts, added up, at the end of a day
    baseline = 0  # the same total before the first day
    if post_ids:
        fields = [getattr(EngagementSnapshot, name) for name in INTERACTIONS]
        rows = (EngagementSnapshot.select(EngagementSnapshot.post, EngagementSnapshot.recorded_at, *fields)
                .where(EngagementSnapshot.post.in_(post_ids) & (EngagementSnapshot.recorded_at < end))
                .order_by(EngagementSnapshot.recorded_at, EngagementSnapshot.id))
        latest: dict[int, int] = {}
        running = 0
        for row in rows:
            value = sum(getattr(row, name) or 0 for name in INTERACTIONS)
            running += value - latest.get(row.post_id, 0)
            latest[row.post_id] = value
            day = (_local(row.recorded_at, zone).date() - start).days
            if day < 0:
                baseline = running
            else:
                day_end_totals[day] = running
    series = []
    previous = baseline
    for offset, total in enumerate(day_end_totals):
        total = previous if total is None else total
        series.append((start + dt.timedelta(days=offset), max(0, total - previous)))  # unlikes do not go below 0
        previous = total
    return series


def _local(value: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """A stored (naive UTC) time in ``zone``."""
    return value.replace(tzinfo=dt.UTC).astimezone(zone)


@dataclasses.dataclass(frozen=True)
class Bar:
    """One day's bar: its box in the SVG's coordinates and what it stands for."""

    x: float
    y: float
    width: float
    height: float
    day: dt.date
    value: int


@dataclasses.dataclass(frozen=True)
class BarChart:
    """Everything a template needs to draw the chart."""

    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[tuple[float, str]]  # (y, label)
    x_labels: list[tuple[float, str, str]]  # (x, label, SVG text-anchor)
    baseline_y: float
    total: int

    @property
    def summary(self) -> str:
        """A sentence for screen readers (the SVG's label)."""
        if not self.bars:
            return "No days to show."
        busiest = max(self.bars, key=lambda bar: bar.value)
        first, last = self.bars[0].day, self.bars[-1].day
        text = f"{self.total:,} interactions from {first:%d %b} to {last:%d %b}"
        if busiest.value:
            text += f"; the busiest day was {busiest.day:%d %b} with {busiest.value:,}"
        return text + "."


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``value`` (4 for an empty chart)."""
    if value <= 0:
        return 4
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def bar_chart(series: list[tuple[dt.date, int]]) -> BarChart:
    """Lay ``series`` out as bars in a ``WIDTH`` x ``HEIGHT`` box with a labelled y axis and a few dates."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_ceiling(max((value for _, value in series), default=0))
    slot = plot_width / max(1, len(series))
    baseline = TOP + plot_height
    bars = []
    for index, (day, value) in enumerate(series):
        height = plot_height * value / top
        bars.append(Bar(x=round(LEFT + index * slot + slot * 0.15, 2), y=round(baseline - height, 2),
                        width=round(slot * 0.7, 2), height=round(height, 2), day=day, value=value))
    ticks = [(round(baseline - plot_height * fraction, 2), f"{int(top * fraction):,}") for fraction in (0, 0.5, 1)]
    x_labels = []
    if series:  # the first and last day, aligned to the plot's edges so they are not cut off, and the middle one
        x_labels = [(LEFT, f"{series[0][0]:%d %b}", "start"),
                    (round(LEFT + (len(series) // 2) * slot + slot / 2, 2), f"{series[len(series) // 2][0]:%d %b}",
                     "middle"),
                    (WIDTH - RIGHT, f"{series[-1][0]:%d %b}", "end")]
    return BarChart(WIDTH, HEIGHT, bars, ticks, x_labels, baseline, sum(value for _, value in series))
