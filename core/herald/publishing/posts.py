"""Posts: creation, edit history and the JSON shape every API shows them in."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, NamedTuple

import peewee as pw

from .. import events, ids
from ..captions import heuristic
from ..db.models import (
    Campaign,
    Client,
    EngagementSnapshot,
    Media,
    Post,
    PostVersion,
    db,
    isoformat,
    write_transaction,
)
from ..db.prepared_statements import Prepared, PreparedInsert, by_id
from ..errors import Conflict, NotFound, ValidationError
from ..media import url_import
from ..media.public_links import public_url
from ..platforms import MediaRef
from .engagement_figures import latest_by_post, same_source
from .variants import texts as platform_texts

VERSIONED_FIELDS = ("client_id", "topic", "caption", "first_comment", "post_type", "platforms", "media", "fit",
                    "variants", "status", "score", "scheduled_at", "campaign_id")
METRICS = ("likes", "comments", "saves", "shares", "reach", "impressions")
POST_PREFIX = "post_"
MEDIA_PREFIX = "media_"

# The action endpoint's statements, prepared (see herald.db.prepared_statements for the figures).
_CLIENT = Prepared(Client, lambda param: Client.select().where(
    (Client.id == param(Client.id)) & (Client.workspace == param(Client.workspace))
    & Client.deleted_at.is_null()).limit(1))
_insert_post = PreparedInsert(Post)
_insert_version = PreparedInsert(PostVersion)
post_by_id = by_id(Post)  # the post a publish job reads, prepared (see herald.db.prepared_statements)


def get_client(workspace_id: int, client_id: int, field: str = "client_id") -> Client:
    """The workspace's (not deleted) client; 404 naming ``field`` otherwise."""
    found = _CLIENT.rows(id=client_id, workspace=workspace_id)
    if not found:
        raise NotFound(f"No client {client_id} in this workspace.", field=field)
    return found[0]


def get_post(workspace_id: int, value: Any, field: str | None = "post_id", *, client_id: int | None = None) -> Post:
    """The workspace's post ``value`` (``42``, ``"42"`` or ``"post_42"``); 404 naming ``field`` otherwise.

    Another workspace's post is not found; with ``client_id``, neither is another client's.
    """
    post_id = ids.parse_id(value, POST_PREFIX)
    post = None
    if post_id is not None:
        where = (Post.id == post_id) & (Post.workspace == workspace_id)
        if client_id is not None:
            where &= Post.client == client_id
        post = Post.get_or_none(where)
    if post is None:
        raise NotFound(f"No post {value!r} in this workspace.", field=field)
    return post


def platform_names(value: str | list[str] | None) -> list[str]:
    """``"instagram"``, ``"instagram, facebook"`` or ``["instagram"]`` as a list of lower-case names,
    each once, in the order given (None: none)."""
    items = value.split(",") if isinstance(value, str) else (value or [])
    return list(dict.fromkeys(item.strip().lower() for item in items if item.strip()))


def check_media(workspace_id: int, media_ids: list[int | str]) -> list[int]:
    """The media ids (``5`` or ``"5"``), each checked to belong to the workspace; 404 naming ``media`` otherwise."""
    media_ids = list(dict.fromkeys(int(value) for value in media_ids))
    if not media_ids:
        return []
    found = {row.id for row in Media.select(Media.id).where((Media.workspace == workspace_id)
                                                             & Media.id.in_(media_ids))}
    for index, media_id in enumerate(media_ids):
        if media_id not in found:
            raise NotFound(f"No media {media_id} in this workspace; upload it with POST /api/media first.",
                           field=f"media.{index}")
    return media_ids


def lock_post(post_id: int) -> Post:
    """Re-read the post inside a write transaction, holding its row lock until the transaction ends.

    Every edit calls this first, so edits of one post run one after the other: each sees the post
    as the previous one left it, and the version numbers they record follow each other. PostgreSQL
    needs ``SELECT … FOR UPDATE``; SQLite's write transaction (``BEGIN IMMEDIATE``) already holds
    the database's only write lock.
    """
    query = Post.select().where(Post.id == post_id)
    if not isinstance(db.obj, pw.SqliteDatabase):
        query = query.for_update()
    return query.get()


def hold_post_lock(post_id: int) -> Post | None:
    """Take the post's row lock (PostgreSQL) and read the post; a worker calls this before it touches a task.

    Edits lock the post and then its tasks; a worker that locked a task and then the post (to
    update its status) could deadlock with them, so workers take the locks in the same order.
    The post read stays current while the transaction holds the lock (None: it was deleted); hand
    it to :func:`herald.publishing.tasks.refresh_post` so the post is read once.
    """
    if isinstance(db.obj, pw.SqliteDatabase):  # BEGIN IMMEDIATE already holds the database's only write lock
        return post_by_id(post_id)
    return Post.select().where(Post.id == post_id).for_update().first()


def snapshot(post: Post) -> dict[str, Any]:
    """The versioned fields of ``post``, for :func:`record_version`."""
    return {
        "client_id": post.client_id, "topic": post.topic, "caption": post.caption, "first_comment": post.first_comment,
        "post_type": post.post_type, "platforms": list(post.platforms or []), "media": list(post.media or []),
        "fit": post.fit, "variants": post.variants,
        "status": post.status, "score": post.score, "scheduled_at": isoformat(post.scheduled_at),
        "campaign_id": post.campaign_id,
    }


def record_version(post: Post, actor: str, before: dict[str, Any] | None, restored_from: int | None = None, *,
                   extra_changes: dict[str, dict[str, Any]] | None = None) -> PostVersion | None:
    """Record what changed in ``post`` since ``before`` (a snapshot; ``None`` for creation).

    ``restored_from`` is the version number a restore brought back (see :mod:`herald.publishing.versions`);
    ``extra_changes`` adds changes of what is not a field of the post (``{"accounts": {"before", "after"}}``).
    Returns None when nothing changed.
    """
    after = snapshot(post)
    before = before or {}
    changes = {name: {"before": before.get(name), "after": after[name]}
               for name in VERSIONED_FIELDS if before.get(name) != after[name]}
    changes.update(extra_changes or {})
    if not changes:
        return None
    number = 1
    if before:  # a new post has no versions yet: skip the lookup on the hot path
        last = (PostVersion.select(PostVersion.number).where(PostVersion.post == post)
                .order_by(PostVersion.number.desc()).first())
        number = (last.number + 1) if last else 1
    extra = {"restored_from": restored_from} if restored_from is not None else {}
    try:
        return _insert_version(post=post.id, number=number, actor=actor, changes=changes, **extra)
    except pw.IntegrityError:
        # Only an edit that skipped lock_post can get here; its transaction is rolled back whole.
        raise Conflict(f"post_{post.id} was changed by someone else at the same moment; "
                       "nothing was saved, try again.") from None


def create_post(workspace_id: int, actor: str, *, client: Client | None, topic: str, caption: str,
                post_type: str, platforms: list[str], media: list[int], campaign: Campaign | None = None,
                now: dt.datetime, status: str = "draft", first_comment: str | None = None,
                scheduled_at: dt.datetime | None = None, fit: str | None = None,
                variants: dict | None = None) -> Post:
    """Create a post (a draft unless ``status`` says otherwise, scored by the heuristic scorer), record its
    first version and ``post.created``; every new post, from the action endpoint or ``/v1``, is made here.

    The score is computed first; only the inserts run in a write transaction (a savepoint of the
    caller's, when there is one), so other writers wait for the database as briefly as possible.
    ``now`` (naive UTC, the runtime's clock) is its creation time.
    """
    score = heuristic.quick_value(caption, platforms)
    with write_transaction():
        post = _insert_post(workspace=workspace_id, client=client.id if client is not None else None,
                            topic=topic or "", caption=caption or "", first_comment=first_comment,
                            post_type=post_type, platforms=platforms, media=media, status=status, score=score,
                            campaign=campaign.id if campaign is not None else None, scheduled_at=scheduled_at,
                            fit=fit, variants=variants, created_at=now, updated_at=now)
        record_version(post, actor, None)
        events.record(workspace_id, "post.created", {"post": serialize_post(post, shape="v1")})
    return post


class EngagementReading(NamedTuple):
    """Metrics of one post, read from ``source`` at ``recorded_at`` (naive UTC)."""

    workspace_id: int
    post_id: int
    metrics: dict[str, int]
    source: str
    recorded_at: dt.datetime


def record_engagement(post: Post, metrics: dict[str, int], source: str) -> EngagementSnapshot:
    """Append an engagement snapshot (history is kept, never overwritten) and emit ``engagement.updated``.

    A metric ``metrics`` leaves out keeps the value ``source`` last reported for the post.
    """
    previous = latest_by_post([post.id], same_source(source)).get(post.id)
    snapshot = EngagementSnapshot.create(post=post, source=source, **_metric_values(metrics, previous))
    events.record(post.workspace_id, "engagement.updated", _engagement_event(post.id, snapshot))
    return snapshot


def record_engagements(readings: list[EngagementReading]) -> None:
    """:func:`record_engagement` for many posts in a few statements: the last values, the snapshots, their events."""
    previous: dict[tuple[int, str], EngagementSnapshot] = {}
    for source in {reading.source for reading in readings}:
        post_ids = [reading.post_id for reading in readings if reading.source == source]
        previous.update({(post_id, source): snapshot
                         for post_id, snapshot in latest_by_post(post_ids, same_source(source)).items()})
    snapshots = [EngagementSnapshot(post=reading.post_id, source=reading.source, recorded_at=reading.recorded_at,
                                    **_metric_values(reading.metrics, previous.get((reading.post_id, reading.source))))
                 for reading in readings]
    # One statement per round, each holding at most one snapshot of a post: PostgreSQL fires a statement's
    # row triggers after all its rows went in, so the triggers of derived data would see a post's later
    # snapshot of the same statement before their turn came (herald.db.engagement_hours).
    rounds: list[list[EngagementSnapshot]] = []
    seen: dict[int, int] = {}
    for reading, snapshot in zip(readings, snapshots, strict=True):
        number = seen[reading.post_id] = seen.get(reading.post_id, -1) + 1
        if number == len(rounds):
            rounds.append([])
        rounds[number].append(snapshot)
    for batch in rounds:  # in the order of the posts' ids: the triggers lock the posts in one order
        EngagementSnapshot.bulk_create(sorted(batch, key=lambda snapshot: snapshot.post_id))
    events.record_many("engagement.updated", [(reading.workspace_id, _engagement_event(reading.post_id, snapshot))
                                              for reading, snapshot in zip(readings, snapshots, strict=True)])


def _metric_values(metrics: dict[str, int], previous: EngagementSnapshot | None) -> dict[str, int]:
    """The metrics sent, and for each one left out the value of ``previous``; 400 when none is sent."""
    values = {name: metrics[name] for name in METRICS if metrics.get(name) is not None}
    if not values:
        raise ValidationError(f"Send at least one metric: {', '.join(METRICS)}.", field="likes")
    if previous is not None:
        values = {name: getattr(previous, name) for name in METRICS} | values
    return values


def _engagement_event(post_id: int, snapshot: EngagementSnapshot) -> dict[str, Any]:
    """The data of an ``engagement.updated`` event."""
    return {"post_id": f"post_{post_id}", "engagement": serialize_engagement(snapshot)}


def serialize_engagement(snapshot: EngagementSnapshot | None) -> dict[str, Any] | None:
    """The JSON shape of an engagement snapshot."""
    if snapshot is None:
        return None
    data = {name: getattr(snapshot, name) for name in METRICS}
    data["source"] = snapshot.source
    data["recorded_at"] = isoformat(snapshot.recorded_at)
    return data


def serialize_post(post: Post, engagement: EngagementSnapshot | None = None, *,
                   shape: Literal["action", "v1"]) -> dict[str, Any]:
    """The JSON shape of a post, as one of the two APIs shows it (events carry the ``v1`` one).

    ``action`` (the action endpoint and the ``/api`` pages): numeric ids, ``topic``, ``caption`` and
    ``score``. ``v1`` (the publishing API): ``post_42`` and ``media_7`` ids, ``content`` and
    ``first_comment``. Both end with the post's times, then ``engagement`` when it is given.
    """
    if shape == "v1":
        data = {
            "id": f"{POST_PREFIX}{post.id}",
            "content": post.caption,
            "first_comment": post.first_comment,
            "variants": post.variants or {},
            "texts": platform_texts(post.caption, post.platforms or [], post.variants),
            "status": post.status,
            "platforms": list(post.platforms or []),
            "post_type": post.post_type,
            "media": [f"{MEDIA_PREFIX}{media_id}" for media_id in post.media or []],
            "client_id": post.client_id,
            "campaign_id": post.campaign_id,
        }
    else:
        data = {
            "id": post.id,
            "client_id": post.client_id,
            "topic": post.topic,
            "caption": post.caption,
            "post_type": post.post_type,
            "platforms": list(post.platforms or []),
            "media": list(post.media or []),
            "status": post.status,
            "score": post.score,
            "campaign_id": post.campaign_id,
            "variants": post.variants or {},
        }
    data["scheduled_at"] = isoformat(post.scheduled_at)
    data["published_at"] = isoformat(post.published_at)
    data["created_at"] = isoformat(post.created_at)
    data["updated_at"] = isoformat(post.updated_at)
    if engagement is not None:
        data["engagement"] = serialize_engagement(engagement)
    return data


VIDEO_TYPES = ("video/mp4", "video/quicktime")


def parse_id(value: Any, prefix: str, what: str, field: str) -> int:
    """``"post_42"`` / ``"42"`` / ``42`` as 42; 404 naming ``field`` otherwise."""
    number = ids.parse_id(value, prefix)
    if number is None:
        raise NotFound(f"No {what} {value!r} in this workspace.", field=field)
    return number


def _media_statement(count: int) -> Prepared:
    """The lookup of ``count`` media of a workspace, prepared once per count (see herald.db.prepared_statements):
    every publish step with media resolves its post's media, and rendered each time that cost a step
    about 0.8 ms of worker CPU (5.8 against 5.0 ms per step: one `herald worker --burst` on 600
    Instagram and Facebook image tasks made as bench/publish_pipeline.py makes them, 2026-12-06)."""
    statement = _MEDIA_BY_IDS.get(count)
    if statement is None:
        statement = _MEDIA_BY_IDS[count] = Prepared(Media, lambda param: Media.select().where(
            (Media.workspace == param(Media.workspace))
            & Media.id.in_([param(Media.id, f"id_{index}") for index in range(count)])))
    return statement


_MEDIA_BY_IDS: dict[int, Prepared] = {}


def resolve_media(workspace_id: int, values: list) -> list[Media]:
    """The workspace's media rows for ``values`` (ids as clients send them), in order; 404 naming the
    first that is not the workspace's."""
    for index, value in enumerate(values):
        if url_import.is_url(value):  # POST /v1/publish imports them first; a batch does not download
            raise ValidationError("Media URLs are imported by POST /v1/publish and create_post, one post at a time. "
                                  "For a batch, import each first (POST /api/media with {\"url\": ...}) and name "
                                  "its media id.", field=f"media.{index}")
    media_ids = [parse_id(value, MEDIA_PREFIX, "media", f"media.{index}") for index, value in enumerate(values)]
    # One query for every item (at most 10): every publish task resolves its post's media.
    found = {row.id: row for row in _media_statement(len(media_ids)).rows(
        workspace=workspace_id, **{f"id_{index}": media_id for index, media_id in enumerate(media_ids)})} \
        if media_ids else {}
    for index, media_id in enumerate(media_ids):
        if media_id not in found:
            raise NotFound(f"No media {values[index]!r} in this workspace; upload it with POST /api/media first.",
                           field=f"media.{index}")
    return [found[media_id] for media_id in media_ids]


def media_ref(runtime, row: Media, preview: bool = False) -> MediaRef:
    """What a platform is handed for a media row, with the facts decoded at upload (``preview``: without
    its signed public link)."""
    kind = "video" if row.content_type in VIDEO_TYPES else "image"
    url = "" if preview else public_url(runtime.config, runtime.config.resolved_secret_key(), row)
    # A dry run's stand-in for a URL it has not imported has no id: its URL names it.
    name = f"{MEDIA_PREFIX}{row.id}" if row.id is not None else getattr(row, "source_url", "the file")
    return MediaRef(id=name, kind=kind, content_type=row.content_type, url=url, size=row.size,
                    sha256=row.sha256, width=row.width, height=row.height, duration_seconds=row.duration_seconds,
                    video_codec=row.video_codec, audio_codec=row.audio_codec, frame_rate=row.frame_rate,
                    alt_text=row.alt_text or "")

