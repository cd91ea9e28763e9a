"""Engagement totals and rates of a client (or a workspace) over a period, and its best times to post
(``GET /v1/analytics``).

The period is the last ``period`` calendar days in the client's time zone (else the workspace's,
else UTC), today included. A post counts in it when it went out then (its ``published_at``, else
``scheduled_at``, else ``created_at``, as in :mod:`herald.publishing.engagement_figures`) and has
engagement figures. For each post and each owner (platform and account, see
:mod:`herald.intelligence.engagement_history`) its newest snapshot counts once: the newest of the
platform's pulls and the numbers pushed for it. A post's figures are the sum over its platforms;
pushed numbers that name no platform (a post on several) count for the post alone, when it has
no platform's figures. So the totals are the platforms' sums, plus such posts.

- ``interactions`` = likes + comments + saves + shares; ``engagement_rate`` = interactions / reach
  in percent (two decimals), null when the reach is 0 (nothing to divide by, not a rate of 0).
- ``impressions`` sums the figures that report it; null when none does.
- Best weekday and hour: the local weekday (hour) whose posts had the most interactions on average,
  among those with at least :data:`MIN_POSTS_PER_SLOT` posts; decided only from
  :data:`MIN_POSTS_FOR_BEST_TIMES` measured posts up, else null with a note saying so. Ties go to the
  earlier weekday (hour).

The figures are read from per-hour aggregates (:mod:`herald.db.engagement_hours`: per UTC hour the
posts went out, per owner). In a zone with 30- or 45-minute offsets, whose days and hours are not
made of whole UTC hours, the posts and their snapshots are walked instead (:func:`walk`, the same
definitions).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import peewee as pw

from ..db.engagement_hours import EVERY_CLIENT
from ..db.models import Account, EngagementOwnerHour, EngagementPostHour, EngagementSnapshot, Post
from ..publishing.engagement_figures import attributed_at, interactions, latest_by_post_and_source, rate
from . import local_hours
from .engagement_history import Attribution, Owner

MIN_POSTS_FOR_BEST_TIMES = 10
MIN_POSTS_PER_SLOT = 2
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
COUNTED = ("likes", "comments", "saves", "shares", "reach")


@dataclasses.dataclass
class Totals:
    """Summed figures of some posts."""

    posts: int = 0
    likes: int = 0
    comments: int = 0
    saves: int = 0
    shares: int = 0
    reach: int = 0
    impressions: int | None = None

    def add(self, snapshot: EngagementSnapshot) -> None:
        """Add one snapshot's figures (the caller counts the posts)."""
        for name in COUNTED:
            setattr(self, name, getattr(self, name) + (getattr(snapshot, name) or 0))
        if snapshot.impressions is not None:
            self.impressions = (self.impressions or 0) + snapshot.impressions

    def add_sums(self, row) -> None:
        """Add the sums of an aggregate row: ``posts``, :data:`COUNTED`, ``impressions`` and
        ``impressions_reported`` (how many of the figures reported impressions)."""
        self.posts += int(row.posts)
        for name in COUNTED:
            setattr(self, name, getattr(self, name) + int(getattr(row, name)))
        if int(row.impressions_reported):
            self.impressions = (self.impressions or 0) + int(row.impressions)

    def as_dict(self) -> dict:
        """The figures, their interactions and engagement rate."""
        total = self.likes + self.comments + self.saves + self.shares
        return {"posts": self.posts, **{name: getattr(self, name) for name in COUNTED}, "impressions": self.impressions,
                "interactions": total, "engagement_rate": rate(total, self.reach) if self.reach else None}


def _utc(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """Local midnight starting ``day`` in ``zone``, as a naive UTC datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)


def _post_figures(post: Post, latest: dict[str, EngagementSnapshot],
                  attribution: Attribution) -> dict[Owner, EngagementSnapshot]:
    """The snapshots that make ``post``'s figures: the newest per owner with a platform, else the newest
    that names none."""
    owned: dict[Owner, EngagementSnapshot] = {}
    for source, snapshot in latest.items():
        owner = attribution.owner(post.id, source)
        current = owned.get(owner)
        if current is None or (snapshot.recorded_at, snapshot.id) > (current.recorded_at, current.id):
            owned[owner] = snapshot
    with_platform = {owner: snapshot for owner, snapshot in owned.items() if owner.platform is not None}
    return with_platform or owned


@dataclasses.dataclass
class Figures:
    """What a period's posts add up to, before it is shaped as the answer."""

    measured: int = 0
    totals: Totals = dataclasses.field(default_factory=Totals)
    platforms: dict[str, Totals] = dataclasses.field(default_factory=dict)
    accounts: dict[Owner, Totals] = dataclasses.field(default_factory=dict)
    # local weekday (hour) -> [posts, their interactions]
    weekdays: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    hours: dict[int, list[int]] = dataclasses.field(default_factory=dict)

    def add_slot(self, local: dt.datetime, posts: int, engagement: int) -> None:
        """Count ``posts`` that went out at ``local`` time with ``engagement`` interactions in all."""
        for slots, slot in ((self.weekdays, local.weekday()), (self.hours, local.hour)):
            counted = slots.setdefault(slot, [0, 0])
            counted[0] += posts
            counted[1] += engagement


def _best(slots: dict[int, list[int]], names) -> dict | None:
    """The slot with the highest average among those with enough posts (ties: the first), or None."""
    candidates = [(total / posts, -slot, slot, posts) for slot, (posts, total) in slots.items()
                  if posts >= MIN_POSTS_PER_SLOT]
    if not candidates:
        return None
    average, _, slot, count = max(candidates)
    return {"value": names(slot), "posts": count, "average_interactions": round(average, 2)}


def summary(workspace_id: int, period: int, *, client_id: int | None, timezone: str, now: dt.datetime) -> dict:
    """The figures of the last ``period`` days up to ``now`` of the workspace, or of ``client_id``."""
    zone = ZoneInfo(timezone)
    today = now.replace(tzinfo=dt.UTC).astimezone(zone).date()
    first = today - dt.timedelta(days=period - 1)
    start, end = _utc(first, zone), _utc(today + dt.timedelta(days=1), zone)
    figures = from_hours(workspace_id, client_id, start, end, zone)
    if figures is None:
        figures = walk(workspace_id, client_id, start, end, zone)
    return {
        "client_id": client_id,
        "period": {"days": period, "from": first.isoformat(), "to": today.isoformat(), "timezone": timezone},
        "totals": figures.totals.as_dict(),
        "platforms": [{"platform": name, **figures.platforms[name].as_dict()} for name in sorted(figures.platforms)],
        "accounts": [{**owner.as_dict(), **figures.accounts[owner].as_dict()}
                     for owner in sorted(figures.accounts, key=lambda owner: (owner.account_id, owner.platform))],
        "best_times": _best_times(figures.measured, figures.weekdays, figures.hours, timezone),
    }


def from_hours(workspace_id: int, client_id: int | None, start: dt.datetime, end: dt.datetime,
               zone: ZoneInfo) -> Figures | None:
    """The figures of the posts that went out from ``start`` to ``end`` (naive UTC), from the per-hour
    aggregates; None when the period or an hour of it is not whole UTC hours in ``zone``."""
    if not (local_hours.on_the_hour(start) and local_hours.on_the_hour(end)):
        return None
    client = EVERY_CLIENT if client_id is None else client_id
    figures = Figures()
    hours = (EngagementPostHour.select(EngagementPostHour.hour, EngagementPostHour.posts,
                                       EngagementPostHour.interactions)
             .where((EngagementPostHour.workspace_id == workspace_id) & (EngagementPostHour.client_id == client)
                    & (EngagementPostHour.hour >= start) & (EngagementPostHour.hour < end)
                    & (EngagementPostHour.posts != 0)).tuples())
    for hour, posts, engagement in hours:
        local = local_hours.local(hour, zone)
        if local is None:
            return None
        figures.measured += posts
        figures.add_slot(local, posts, engagement)
    names = ("posts", *COUNTED, "impressions", "impressions_reported")
    sums = [pw.fn.SUM(getattr(EngagementOwnerHour, name)) for name in names]
    owners = [(platform, account_id, SimpleNamespace(**dict(zip(names, values, strict=True))))
              for platform, account_id, *values in
              EngagementOwnerHour.select(EngagementOwnerHour.platform, EngagementOwnerHour.account_id, *sums)
              .where((EngagementOwnerHour.workspace_id == workspace_id) & (EngagementOwnerHour.client_id == client)
                     & (EngagementOwnerHour.hour >= start) & (EngagementOwnerHour.hour < end))
              .group_by(EngagementOwnerHour.platform, EngagementOwnerHour.account_id)
              .having(pw.fn.SUM(EngagementOwnerHour.posts) != 0).tuples()]
    usernames = dict(Account.select(Account.id, Account.username)
                     .where(Account.id.in_([account_id for _, account_id, _ in owners if account_id])).tuples())
    for platform, account_id, row in owners:
        figures.totals.add_sums(row)
        if platform:
            figures.platforms.setdefault(platform, Totals()).add_sums(row)
        if account_id:
            owner = Owner(platform, account_id, usernames.get(account_id))
            figures.accounts.setdefault(owner, Totals()).add_sums(row)
    figures.totals.posts = figures.measured
    return figures


def walk(workspace_id: int, client_id: int | None, start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> Figures:
    """The same figures from the posts and their newest snapshots (zones whose hours are not UTC hours)."""
    went_out = attributed_at()
    query = (Post.select(Post.id, Post.platforms, Post.published_at, Post.scheduled_at, Post.created_at)
             .where((Post.workspace == workspace_id) & (went_out >= start) & (went_out < end)))
    if client_id is not None:
        query = query.where(Post.client == client_id)
    posts = list(query.order_by(Post.id))
    by_post: dict[int, dict[str, EngagementSnapshot]] = {}
    for (post_id, source), snapshot in latest_by_post_and_source(post.id for post in posts).items():
        by_post.setdefault(post_id, {})[source] = snapshot
    measured = [post for post in posts if post.id in by_post]
    attribution = Attribution(measured)
    figures = Figures(measured=len(measured))
    totals, platforms, accounts = figures.totals, figures.platforms, figures.accounts
    for post in measured:
        owned = _post_figures(post, by_post[post.id], attribution)
        totals.posts += 1
        for owner, snapshot in owned.items():
            totals.add(snapshot)
            if owner.platform is not None:
                platforms.setdefault(owner.platform, Totals()).add(snapshot)
                platforms[owner.platform].posts += 1
            if owner.account_id is not None:
                accounts.setdefault(owner, Totals()).add(snapshot)
                accounts[owner].posts += 1
        local = (post.published_at or post.scheduled_at or post.created_at).replace(tzinfo=dt.UTC).astimezone(zone)
        figures.add_slot(local, 1, sum(interactions(snapshot) for snapshot in owned.values()))
    return figures


def _best_times(measured: int, weekdays: dict[int, list[int]], hours: dict[int, list[int]], timezone: str) -> dict:
    """The best weekday and hour, or nulls and why."""
    answer = {"timezone": timezone, "posts": measured, "weekday": None, "hour": None, "note": None,
              "basis": "average interactions per post, by the local time it went out"}
    if measured < MIN_POSTS_FOR_BEST_TIMES:
        answer["note"] = (f"Only {measured} post{'s' if measured != 1 else ''} with engagement in this period; "
                          f"best times need at least {MIN_POSTS_FOR_BEST_TIMES}.")
        return answer
    answer["weekday"] = _best(weekdays, lambda slot: WEEKDAYS[slot])
    answer["hour"] = _best(hours, lambda slot: slot)
    if answer["weekday"] is None or answer["hour"] is None:
        answer["note"] = (f"No weekday or hour has {MIN_POSTS_PER_SLOT} posts or more yet, so none can be "
                          "called best.")
    return answer
