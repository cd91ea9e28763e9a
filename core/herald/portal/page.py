"""What the client portal page shows: one client's posts in groups, with media, per-platform status,
engagement, comments, stats and the engagement chart. Plain data for the template; no HTML here.

Rejected and failed posts are shown read-only, with fixed plain-language texts: a task's ``error``
holds the platform's own words (and may quote anything it was sent), so it never reaches the page."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from zoneinfo import ZoneInfo

from peewee import fn

from ..db import post_counts
from ..db.models import (
    Account,
    EngagementStatus,
    Media,
    PortalToken,
    Post,
    PostComment,
    PublishTask,
    Workspace,
    isoformat,
)
from ..intelligence import engagement_chart
from ..media.public_links import signed_path
from ..publishing import schedule, tasks
from ..publishing.comments import REJECTION, comments_of
from ..publishing.engagement_figures import latest_by_post
from ..publishing.posts import VIDEO_TYPES
from ..publishing.publish import default_zone
from .links import CAN_APPROVE, CAN_COMMENT

GROUP_LIMIT = 50  # posts per group on the page
AWAITING = ("pending_approval",)
UPCOMING = ("approved", "queued", "publishing")  # approved: a draft the client approved, not scheduled yet
PUBLISHED = ("published",)
PROBLEMS = ("failed", "partially_published", "unconfirmed")  # published nowhere, not everywhere, or unsure
REJECTED = ("rejected",)
# The groups' orders, as the portal's indexes (migration 0036) hold each status: no sort grows with the client.
PUBLISHED_ORDER = (Post.published_at.desc(nulls="last"), Post.id.desc())
SCHEDULED_ORDER = (Post.scheduled_at.asc(nulls="first"), Post.id)
UPDATED_ORDER = (Post.updated_at.desc(), Post.id.desc())
RECENT_DAYS = 30  # rejected and failed posts stay on the page this long
SHOWN = AWAITING + UPCOMING + PUBLISHED + PROBLEMS  # what the stats count
READ_ONLY = PROBLEMS + REJECTED  # nothing to approve, reject or comment on any more
TASK_LABELS = {
    tasks.PENDING_APPROVAL: "Awaiting approval", tasks.QUEUED: "Scheduled", tasks.PUBLISHING: "Publishing",
    tasks.RETRYING: "Publishing", tasks.PUBLISHED: "Published", tasks.FAILED: "Not published",
    tasks.CANCELLED: "Cancelled", tasks.UNCONFIRMED: "Not confirmed",
}
POST_LABELS = {"pending_approval": "Awaiting approval", "approved": "Approved",
               "queued": "Scheduled", "publishing": "Publishing",
               "published": "Published", "partially_published": "Partly published", "failed": "Not published",
               "unconfirmed": "Not confirmed", "rejected": "Rejected"}
# Why a task did not publish, in words for the client; chosen from our own data, never from the error text.
ACCOUNT_PROBLEM = "The account needs to be reconnected. Your agency has been told."
OTHER_PROBLEM = "The platform did not accept the post. Your agency can see why."
STOPPED = "Not published here: publishing was stopped."
UNSURE = "It may be live: the platform could not confirm it. Your agency can see why."
METRICS = ("likes", "comments", "saves", "shares", "reach")


@dataclasses.dataclass(frozen=True)
class PlatformStatus:
    """One account's task for a post, as the client sees it."""

    platform: str
    status: str
    label: str
    url: str | None
    note: str | None = None  # a plain-language explanation when it did not publish


@dataclasses.dataclass(frozen=True)
class MediaPreview:
    """An image or video of a post, at a signed same-origin link."""

    kind: str  # image | video
    src: str
    filename: str
    alt_text: str | None = None  # what it shows, as the agency described it


@dataclasses.dataclass(frozen=True)
class ShownComment:
    """One comment of a post's conversation, as the page shows it."""

    kind: str  # comment | rejection
    author: str
    author_kind: str  # client | agency
    body: str
    at: str  # when it was written, in the client's zone (see local_time)
    at_iso: str  # the same moment in UTC, for the <time> element


@dataclasses.dataclass
class PostCard:
    """One post on the page."""

    id: int
    topic: str
    caption: str
    post_type: str
    status: str
    label: str
    when: str  # "Scheduled for …" / "Published …"
    platforms: list[PlatformStatus]
    media: list[MediaPreview]
    engagement: dict[str, int] | None
    comments: list[ShownComment]
    planned: list[str] = dataclasses.field(default_factory=list)  # a draft's platforms, before it has accounts
    # (platform, text) for each platform that publishes its own text instead of the caption (``variants``)
    variants: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    read_only: bool = False  # rejected or failed: shown, but nothing can be done with it
    reason: str | None = None  # why it was rejected, when the client gave a reason in the portal


@dataclasses.dataclass
class PortalPage:
    """Everything the page template shows."""

    client_name: str
    timezone: str
    agency_name: str  # shown as the author of the agency's comments
    permissions: str
    can_comment: bool
    can_approve: bool
    expires_at: str
    awaiting: list[PostCard]
    upcoming: list[PostCard]
    published: list[PostCard]
    problems: list[PostCard]
    rejected: list[PostCard]
    stats: dict[str, int]
    chart: engagement_chart.BarChart


def local_time(value: dt.datetime | None, zone: ZoneInfo) -> str:
    """``Tue 3 Jun 2026, 09:00 EDT``: a stored (UTC) time in the client's zone, with the zone's abbreviation
    (or offset, such as ``+03``, where it has none); "" for no time."""
    if value is None:
        return ""
    local = value.replace(tzinfo=dt.UTC).astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"


def _shown(comment: PostComment, zone: ZoneInfo) -> ShownComment:
    return ShownComment(kind=comment.kind, author=comment.author, author_kind=comment.author_kind,
                        body=comment.body, at=local_time(comment.created_at, zone),
                        at_iso=isoformat(comment.created_at))


def _when(post: Post, zone: ZoneInfo, queued: bool) -> str:
    """When the post goes out (or went, or why not), in words; ``queued``: it has tasks for accounts."""
    if post.status == "rejected":
        return "Rejected " + local_time(post.updated_at, zone)
    if post.status == "failed":
        return "Could not be published " + local_time(post.updated_at, zone)
    if post.status == tasks.UNCONFIRMED and not post.published_at:
        return "Not confirmed since " + local_time(post.updated_at, zone)
    if post.status in PUBLISHED + PROBLEMS and post.published_at:
        return "Published " + local_time(post.published_at, zone)
    if post.scheduled_at:
        return "Scheduled for " + local_time(post.scheduled_at, zone)
    if not queued:  # a draft sent for review: the agency schedules it once it is approved
        return "Not scheduled yet: the agency schedules it once it is approved" if post.status in AWAITING \
            else "Approved; the agency will schedule it"
    return "To be published as soon as it is approved" if post.status in AWAITING else "Publishing now"


def _media_previews(secret_key: str, posts: list[Post]) -> dict[int, MediaPreview]:
    ids = {media_id for post in posts for media_id in post.media or []}
    if not ids:
        return {}
    rows = Media.select().where(Media.id.in_(list(ids)) & (Media.workspace == posts[0].workspace_id))
    return {row.id: MediaPreview("video" if row.content_type in VIDEO_TYPES else "image",
                                 signed_path(secret_key, row), row.filename, row.alt_text) for row in rows}


def _problem(task: PublishTask, post_status: str) -> str | None:
    """A plain sentence when ``task`` did not publish a post the client can no longer act on."""
    if post_status not in READ_ONLY or post_status == "rejected":
        return None
    if task.status == tasks.FAILED:
        return ACCOUNT_PROBLEM if task.account.status in ("expired", "invalid", "disconnected") else OTHER_PROBLEM
    if task.status == tasks.CANCELLED:
        return STOPPED
    if task.status == tasks.UNCONFIRMED:
        return UNSURE
    return None


def _cards(secret_key: str, posts: list[Post], zone: ZoneInfo) -> list[PostCard]:
    ids = [post.id for post in posts]
    statuses = {post.id: post.status for post in posts}
    by_post: dict[int, list[PlatformStatus]] = {post_id: [] for post_id in ids}
    if ids:
        rows = (PublishTask.select(PublishTask, Account.status).join(Account)
                .where(PublishTask.post.in_(ids)).order_by(PublishTask.id))
        for task in rows:
            by_post[task.post_id].append(PlatformStatus(task.platform, task.status,
                                                        TASK_LABELS.get(task.status, task.status), task.url,
                                                        _problem(task, statuses[task.post_id])))
    media = _media_previews(secret_key, posts)
    engagement = latest_by_post(ids)
    comments = comments_of(ids)
    cards = []
    for post in posts:
        snapshot = engagement.get(post.id)
        conversation, reason = comments[post.id], None
        if post.status == "rejected":
            given = [row for row in conversation if row.kind == REJECTION]
            reason = given[-1].body if given else None
            conversation = [row for row in conversation if row.kind != REJECTION]
        cards.append(PostCard(
            id=post.id, topic=post.topic, caption=post.caption, post_type=post.post_type, status=post.status,
            label=POST_LABELS.get(post.status, post.status), when=_when(post, zone, bool(by_post[post.id])),
            platforms=by_post[post.id], planned=[] if by_post[post.id] else list(post.platforms or []),
            media=[media[media_id] for media_id in post.media or [] if media_id in media],
            engagement={name: getattr(snapshot, name) for name in METRICS} if snapshot else None,
            comments=[_shown(row, zone) for row in conversation], read_only=post.status in READ_ONLY, reason=reason,
            variants=[(name, variant["content"]) for name, variant in sorted((post.variants or {}).items())
                      if variant.get("content") and variant["content"] != post.caption]))
    return cards


def group_query(link: PortalToken, statuses: tuple[str, ...], order, since: dt.datetime | None = None,
                recent: tuple[str, ...] | None = None):
    """The query of one group of the page: the link's client's first :data:`GROUP_LIMIT` posts in
    ``statuses`` in ``order``; those in ``recent`` (every status when None) only when updated since ``since``.

    Each status is read on its own, its first posts in ``order`` (the portal's indexes, migration 0036,
    hold each status in each order), and a group of several statuses orders only those: an index cannot
    give ``status IN (…)`` in another column's order, and sorting all of a big client's upcoming posts
    (14k at 1M) took 20-35 ms, its failed ones (10k, to find the recent) 90 ms."""
    def first(columns, status: str):
        query = Post.select(*columns).where((Post.workspace == link.workspace_id) & (Post.client == link.client_id)
                                            & (Post.status == status))
        if since is not None and (recent is None or status in recent):
            query = query.where(Post.updated_at >= since)
        return query.order_by(*order).limit(GROUP_LIMIT)

    if len(statuses) == 1:
        return first((), statuses[0])
    ids = functools.reduce(lambda done, more: done.union_all(more), [first((Post.id,), status) for status in statuses])
    return Post.select().where(Post.id.in_(ids)).order_by(*order).limit(GROUP_LIMIT)


def engagement_totals(workspace_id: int, client_id: int) -> dict[str, int]:
    """The sums of the newest snapshot of each shown post of the client (kept per status by
    :mod:`herald.db.engagement_hours`)."""
    sums = [fn.COALESCE(fn.SUM(getattr(EngagementStatus, name)), 0) for name in METRICS]
    row = (EngagementStatus.select(*sums)
           .where((EngagementStatus.workspace_id == workspace_id) & (EngagementStatus.client_id == client_id)
                  & EngagementStatus.status.in_(list(SHOWN))).tuples().get())
    return {name: int(value) for name, value in zip(METRICS, row, strict=True)}


def build(link: PortalToken, secret_key: str, now: dt.datetime) -> PortalPage:
    """The page for ``link`` (an active link, with its client loaded) at ``now`` (the runtime's clock)."""
    client = link.client
    workspace = Workspace.select(Workspace.name, Workspace.settings).where(Workspace.id == link.workspace_id).get()
    zone = schedule.zone(default_zone(workspace, client))
    since = now - dt.timedelta(days=RECENT_DAYS)
    awaiting = list(group_query(link, AWAITING, SCHEDULED_ORDER))
    upcoming = list(group_query(link, UPCOMING, SCHEDULED_ORDER))
    published = list(group_query(link, PUBLISHED, PUBLISHED_ORDER))
    # Partly published posts (live somewhere), posts not confirmed (they may be live, until the agency
    # settles them), and posts that failed in the last days.
    problems = list(group_query(link, PROBLEMS, UPDATED_ORDER, since, recent=("failed",)))
    rejected = list(group_query(link, REJECTED, UPDATED_ORDER, since))
    counts = post_counts.by_status(link.workspace_id, link.client_id)
    stats = {"posts": sum(counts.get(status, 0) for status in SHOWN),
             "published": sum(counts.get(status, 0) for status in ("published", "partially_published")),
             "awaiting": counts.get("pending_approval", 0), **engagement_totals(link.workspace_id, link.client_id)}
    series = engagement_chart.client_daily_interactions(link.workspace_id, link.client_id, SHOWN, 30, now, zone)
    if series is None:  # a zone whose days are not whole UTC hours: walk the snapshots
        shown = (Post.select(Post.id).where((Post.workspace == link.workspace_id) & (Post.client == link.client_id)
                                            & Post.status.in_(list(SHOWN))))
        series = engagement_chart.daily_interactions([row.id for row in shown], 30, now, zone)
    return PortalPage(
        client_name=client.name, timezone=zone.key, agency_name=workspace.name, permissions=link.permissions,
        can_comment=link.permissions in CAN_COMMENT, can_approve=link.permissions in CAN_APPROVE,
        expires_at=local_time(link.expires_at, zone),
        **_grouped_cards(secret_key, zone, awaiting=awaiting, upcoming=upcoming, published=published,
                         problems=problems, rejected=rejected),
        stats=stats, chart=engagement_chart.bar_chart(series))


def _grouped_cards(secret_key: str, zone: ZoneInfo, **groups: list[Post]) -> dict[str, list[PostCard]]:
    """The cards of every group, made together (one query each for the tasks, media, engagement and
    comments of all the page's posts), by group."""
    cards = iter(_cards(secret_key, [post for posts in groups.values() for post in posts], zone))
    return {name: [next(cards) for _ in posts] for name, posts in groups.items()}


def shown_ids(page: PortalPage) -> set[int]:
    """The ids of every post on the page."""
    return {card.id for group in (page.awaiting, page.upcoming, page.published, page.problems, page.rejected)
            for card in group}
