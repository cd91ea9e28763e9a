"""Peewee models. ``db`` is a proxy bound by :func:`bind_database` to SQLite (default) or PostgreSQL.

Times are stored as naive UTC datetimes and serialised with a ``Z`` suffix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from urllib.parse import urlparse

import peewee as pw

from ..cache import TTLCache
from ..clock import Clock, SystemClock
from . import writelock
from .connections import HeraldPostgresqlDatabase, HeraldSqliteDatabase

db = pw.DatabaseProxy()

PLANS = ("free", "pro")
ROLES = ("owner", "admin", "editor", "viewer")


# The clock row timestamps default to (``default=utcnow``). It is bound with the database, by
# herald.runtime.Runtime.build, to the runtime's clock: a default filled in by peewee then reads the
# same clock as the code that compares the stored time (a test's fake clock included). Code that has
# the runtime at hand asks ``runtime.clock`` itself.
_clock: Clock = SystemClock()


def bind_clock(clock: Clock) -> None:
    """Make ``clock`` the one row timestamp defaults and :func:`utcnow` read (see ``Runtime.build``)."""
    global _clock
    _clock = clock


def utcnow() -> dt.datetime:
    """The bound clock's time as a naive UTC datetime (how every time is stored).

    Only for row field defaults (``pw.DateTimeField(default=utcnow)``), which peewee fills in without
    a runtime at hand. Code that needs "now" takes it from ``runtime.clock.now()``, the runtime being
    passed as an argument (or a ``now`` read from it by the caller), never from here.
    """
    return _clock.now()


def isoformat(value: dt.datetime | None) -> str | None:
    """``2026-06-01T09:00:00Z`` for a stored (naive UTC) datetime; ``None`` stays ``None``."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


DEFAULT_BUSY_TIMEOUT_SECONDS = 10.0


def open_database(url: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
                  group_readable: bool = False) -> pw.Database:
    """A pooled peewee database for ``url`` (``sqlite:///path`` or ``postgresql://…``).

    On SQLite, ``busy_timeout`` (seconds) is how long a writer waits for another writer, in SQLite's
    busy handler and on Herald's write lock alike (see :func:`write_transaction`).

    A SQLite file that does not exist yet is created readable by its owner only (0600; 0640 when
    ``group_readable``): SQLite would create it 0644, readable by every user of the host. SQLite
    gives its WAL and shared-memory files the database file's mode, and :mod:`herald.db.writelock` its
    lock file.
    """
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = parsed.path if parsed.netloc == "" else parsed.netloc + parsed.path
        if path.startswith("//"):
            path = path[1:]
        if path and path != ":memory:" and not path.startswith("file:"):
            create_private_file(path, 0o640 if group_readable else 0o600)
        database = HeraldSqliteDatabase(
            path or ":memory:", max_connections=64, stale_timeout=300, check_same_thread=False,
            # mmap_size 0: pages are read with read(), never through a memory map of the database file,
            # where an I/O error or a file changed under the mapping is a SIGBUS that kills the process
            # instead of an error a request can answer. (0 is this SQLite's default; it is said here so
            # a build with another default cannot bring the hazard back.)
            pragmas={"journal_mode": "wal", "synchronous": "normal", "foreign_keys": 1,
                     "cache_size": -16_000, "mmap_size": 0})
        # SqliteDatabase's own busy timeout, given to sqlite3.connect. Set after construction: the pool's
        # ``timeout`` argument is how long to wait for a free pooled connection, not SQLite's.
        database.timeout = busy_timeout
        return database
    if parsed.scheme in ("postgres", "postgresql"):
        return HeraldPostgresqlDatabase(
            (parsed.path or "/").lstrip("/") or "postgres", user=parsed.username, password=parsed.password,
            host=parsed.hostname, port=parsed.port or 5432, max_connections=64, stale_timeout=300)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://user@host/db")


def create_private_file(path: str, mode: int) -> None:
    """Create the empty file ``path`` with ``mode`` unless it exists (an existing file keeps its mode; a
    missing directory is left for SQLite to report)."""
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode))


def bind_database(url: str, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
                  group_readable: bool = False) -> pw.Database:
    """Open ``url`` and bind the model proxy to it; returns the database."""
    database = open_database(url, busy_timeout, group_readable)
    db.initialize(database)
    return database


def write_transaction():
    """A transaction that will write: on SQLite it takes the write lock up front (``BEGIN IMMEDIATE``).

    A deferred SQLite transaction that reads first and writes later cannot wait for another writer:
    its upgrade fails at once with "database is locked". Taking the lock at BEGIN lets busy_timeout
    queue concurrent writers instead. Before that, Herald's writers queue on a ``flock`` that wakes
    each one as soon as the previous one is done (see :mod:`herald.db.writelock`), for at most the same
    busy timeout (then :class:`herald.db.writelock.WriteLockTimeout`, a 503 in the API). Inside a
    transaction already open this is a savepoint of it: the outer transaction holds both locks.
    """
    database = db.obj
    if not isinstance(database, pw.SqliteDatabase):
        return db.atomic()
    path = writelock.lock_path(database.database)
    if database.in_transaction() or path is None:
        return db.atomic(lock_type="IMMEDIATE")
    return writelock.SerialisedWrite(path, db.atomic(lock_type="IMMEDIATE"), database.timeout)


class ReadOnlyDatabase(pw.OperationalError):
    """The database answers but refuses writes (a PostgreSQL standby or a read-only transaction default)."""


def probe_reads() -> None:
    """Open a connection (or reuse this thread's) and run a trivial query; raises the database's error
    when it does not answer."""
    db.connect(reuse_if_open=True)
    db.execute_sql("SELECT 1").fetchone()


def probe_writes() -> None:
    """Write to the database without changing anything; raises the database's error when it cannot.

    SQLite: rewrites its ``user_version`` header field with its own value in a committed write
    transaction (through Herald's write lock), so a read-only connection, an unwritable file or a full
    disk fails here as a real write would. PostgreSQL: asks whether this session may write.
    """
    database = db.obj
    if isinstance(database, pw.SqliteDatabase):
        with write_transaction():
            version = int(db.execute_sql("PRAGMA user_version").fetchone()[0])
            db.execute_sql(f"PRAGMA user_version = {version}")
        return
    recovering, read_only = db.execute_sql(
        "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").fetchone()
    if recovering or read_only == "on":
        raise ReadOnlyDatabase("the database accepts no writes (a standby, or read-only transactions)")


class JSONField(pw.TextField):
    """A JSON value stored as text (portable across SQLite and PostgreSQL)."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = db
        legacy_table_names = False


class WorkRow(BaseModel):
    """The work-row contract of :mod:`herald.work`, as fields a kind's model inherits (the model has no
    table of its own; it lives here, with the tables, so the core's models can keep it).

    ``status`` says where the work is (see :class:`herald.work.Statuses`); ``step`` grows with every
    transition, so the RQ job of each step has an id no other job had; ``due_at`` is when a worker
    should next take it (None: now); ``lease_until`` is set while a worker holds it, and a lease in
    the past means that worker died; ``attempts`` counts the claims that count (see
    ``WorkKind.counted``); ``state`` is what the handler keeps between steps (JSON).
    """

    status = pw.CharField(max_length=20, index=True)
    step = pw.IntegerField(default=0)
    due_at = pw.DateTimeField(null=True)  # indexed where the work is active (active_due_index)
    lease_until = pw.DateTimeField(null=True)
    attempts = pw.IntegerField(default=0)
    state = JSONField(default=dict)


_STATUS_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def status_in(statuses) -> pw.SQL:
    """``(status IN ('a', 'b')) IS TRUE`` for ``statuses`` (sorted, written out as literals): the
    predicate of a work table's partial index (:func:`active_due_index`) and the term a query repeats
    to use it.

    SQLite uses a partial index only when the query's WHERE contains its predicate term for term, and
    it does not look inside a bound ``IN (?, ?)``; so both are this one literal, in one order. ``IS
    TRUE`` makes it one term that the index on ``status`` cannot serve: SQLite has no statistics
    unless ``ANALYZE`` ran, and guessing few rows per status it would read that index and sort every
    active row by ``due_at`` (the temporary B-tree of issue 25) rather than walk the partial index.
    """
    names = sorted(set(statuses))
    if not names or not all(_STATUS_NAME.match(name) for name in names):
        raise ValueError(f"status names are lower-case identifiers, not {statuses!r}")
    return pw.SQL("(status IN ({})) IS TRUE".format(", ".join(f"'{name}'" for name in names)))


def active_due_index(model: type[pw.Model], statuses) -> pw.ModelIndex:
    """The index of ``model``'s active work rows by ``(due_at, id)`` (``<table>_active_due``, partial on
    :func:`status_in`): the reconciler hands rows due soon to RQ, finds expired leases and ``/health``
    finds the oldest due row through it, in rows due soon, not in every row ever made (final rows
    are not in it at all). The id makes it the order the reconciler pages in, whatever the key's type."""
    return model.index(model.due_at, model._meta.primary_key, where=status_in(statuses),
                       name=f"{model._meta.table_name}_active_due")


class Workspace(BaseModel):
    name = pw.CharField(max_length=200, unique=True)
    plan = pw.CharField(max_length=20, default="free")
    settings = JSONField(default=dict)
    created_at = pw.DateTimeField(default=utcnow)


class User(BaseModel):
    class Meta:
        table_name = "users"  # "user" is reserved in PostgreSQL

    workspace = pw.ForeignKeyField(Workspace, backref="users", on_delete="CASCADE")
    email = pw.CharField(max_length=320, unique=True)
    password_hash = pw.CharField(max_length=300)
    role = pw.CharField(max_length=20, default="editor")
    created_at = pw.DateTimeField(default=utcnow)


class ApiKey(BaseModel):
    workspace = pw.ForeignKeyField(Workspace, backref="api_keys", on_delete="CASCADE")
    name = pw.CharField(max_length=200, default="")
    digest = pw.CharField(max_length=64, unique=True)  # SHA-256 hex of the full key; the key itself is never stored
    display = pw.CharField(max_length=40)  # "hrld_live_AbC…xyz9": enough to recognise, useless to use
    scopes = JSONField(default=list)
    created_at = pw.DateTimeField(default=utcnow)
    last_used_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)


class UserSession(BaseModel):
    user = pw.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    digest = pw.CharField(max_length=64, unique=True)
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()


class Client(BaseModel):
    workspace = pw.ForeignKeyField(Workspace, backref="clients", on_delete="CASCADE")
    name = pw.CharField(max_length=200)
    brand_voice = pw.TextField(default="")
    timezone = pw.CharField(max_length=64, default="UTC")
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    deleted_at = pw.DateTimeField(null=True)


class Media(BaseModel):
    workspace = pw.ForeignKeyField(Workspace, backref="media", on_delete="CASCADE")
    filename = pw.CharField(max_length=255)
    content_type = pw.CharField(max_length=100)
    size = pw.BigIntegerField()
    sha256 = pw.CharField(max_length=64, index=True)
    path = pw.CharField(max_length=500)  # relative to the media directory
    created_at = pw.DateTimeField(default=utcnow)
    # What decoding the file found (herald.media.facts); null on files uploaded before Herald decoded them.
    width = pw.IntegerField(null=True)
    height = pw.IntegerField(null=True)
    duration_seconds = pw.FloatField(null=True)
    video_codec = pw.CharField(max_length=40, null=True)
    audio_codec = pw.CharField(max_length=40, null=True)
    frame_rate = pw.FloatField(null=True)
    alt_text = pw.TextField(null=True)  # what the media shows, in words (for screen readers)


class MediaRendition(BaseModel):
    """A file made from an upload for platforms that cannot take it as it is (a PNG as JPEG for
    Instagram, an image padded into its aspect ratios): made once, kept beside the original, served
    through the same signed links (see :mod:`herald.media.renditions`). ``recipe`` says what was made."""

    media = pw.ForeignKeyField(Media, backref="renditions", on_delete="CASCADE", index=False)  # (media, recipe) serves
    recipe = pw.CharField(max_length=100)
    content_type = pw.CharField(max_length=100)
    path = pw.CharField(max_length=500)  # relative to the media directory
    size = pw.BigIntegerField()
    sha256 = pw.CharField(max_length=64)
    width = pw.IntegerField()
    height = pw.IntegerField()
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("media", "recipe"), True),)


class Campaign(BaseModel):
    """A named push for a client (a launch, a season) that posts can belong to."""

    workspace = pw.ForeignKeyField(Workspace, backref="campaigns", on_delete="CASCADE")
    client = pw.ForeignKeyField(Client, backref="campaigns", null=True, on_delete="SET NULL")
    name = pw.CharField(max_length=200)
    goal = pw.TextField(default="")
    starts_on = pw.DateField(null=True)
    ends_on = pw.DateField(null=True)
    status = pw.CharField(max_length=20, default="planned")  # planned | active | paused | completed | archived
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class Post(BaseModel):
    # Few indexes: every new post writes each of them (see migration 0009); those here serve the lists,
    # newest first, by workspace, client, status and campaign (migration 0026). Triggers keep PostCount.
    workspace = pw.ForeignKeyField(Workspace, backref="posts", on_delete="CASCADE", index=False)
    client = pw.ForeignKeyField(Client, backref="posts", null=True, on_delete="SET NULL", index=False)
    campaign = pw.ForeignKeyField(Campaign, backref="posts", null=True, on_delete="SET NULL", index=False)
    topic = pw.TextField(default="")
    caption = pw.TextField(default="")
    first_comment = pw.TextField(null=True)  # posted under the post once published (herald.publishing.first_comments)
    post_type = pw.CharField(max_length=20, default="post")
    fit = pw.CharField(max_length=10, null=True)  # "pad": images outside a platform's aspect ratios are padded
    # Per platform, what differs from the post (herald.publishing.variants): {"bluesky": {"content": "…"}}.
    variants = JSONField(null=True)
    platforms = JSONField(default=list)
    media = JSONField(default=list)
    status = pw.CharField(max_length=30, default="draft")
    score = pw.FloatField(null=True)
    scheduled_at = pw.DateTimeField(null=True)
    published_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("workspace", "created_at"), False), (("workspace", "id"), False),
                   (("workspace", "status", "id"), False), (("client", "id"), False),
                   (("client", "status", "id"), False))


Post.add_index(Post.campaign, Post.id, where=Post.campaign.is_null(False), name="post_campaign_id_id_set")


class PostCount(BaseModel):
    """How many posts a workspace has per client, campaign and status (0: none), so that a list's
    ``total`` sums a few rows (:mod:`herald.db.post_counts`). Written only by the database's triggers on
    ``post`` (migration 0026), in the transaction that writes the post."""

    workspace_id = pw.IntegerField()
    client_id = pw.IntegerField()
    campaign_id = pw.IntegerField()
    status = pw.CharField(max_length=30)
    n = pw.BigIntegerField(default=0)

    class Meta:
        indexes = ((("workspace_id", "client_id", "campaign_id", "status"), True),)


class PostVersion(BaseModel):
    post = pw.ForeignKeyField(Post, backref="versions", on_delete="CASCADE", index=False)  # (post, number) serves
    number = pw.IntegerField()
    actor = pw.CharField(max_length=200)
    changes = JSONField(default=dict)  # field -> {"before": …, "after": …}
    created_at = pw.DateTimeField(default=utcnow)
    restored_from = pw.IntegerField(null=True)  # the version number a restore brought back

    class Meta:
        indexes = ((("post", "number"), True),)


class EngagementSnapshot(BaseModel):
    post = pw.ForeignKeyField(Post, backref="engagement", on_delete="CASCADE")
    likes = pw.IntegerField(default=0)
    comments = pw.IntegerField(default=0)
    saves = pw.IntegerField(default=0)
    shares = pw.IntegerField(default=0)
    reach = pw.IntegerField(default=0)
    impressions = pw.IntegerField(null=True)
    source = pw.CharField(max_length=40, default="api")
    recorded_at = pw.DateTimeField(default=utcnow, index=True)


class PluginSetting(BaseModel):
    workspace = pw.ForeignKeyField(Workspace, backref="plugin_settings", on_delete="CASCADE")
    plugin = pw.CharField(max_length=100)
    enabled = pw.BooleanField(default=True)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("workspace", "plugin"), True),)


class Event(BaseModel):
    """A domain event, written in the same transaction as the change that caused it (an outbox)."""

    workspace = pw.ForeignKeyField(Workspace, backref="events", on_delete="CASCADE", index=False)
    type = pw.CharField(max_length=60)
    data = JSONField(default=dict)
    created_at = pw.DateTimeField(default=utcnow)
    dispatched_at = pw.DateTimeField(null=True)


# Only the reconciler reads events, looking for undispatched ones (see migration 0009).
Event.add_index(Event.created_at, where=Event.dispatched_at.is_null(), name="event_undispatched")


class Account(BaseModel):
    """A connected social account. The access token is stored encrypted (see :mod:`herald.crypto`)."""

    workspace = pw.ForeignKeyField(Workspace, backref="accounts", on_delete="CASCADE")
    platform = pw.CharField(max_length=40)
    external_id = pw.CharField(max_length=100)  # the platform's id: IG user id, Page id
    username = pw.CharField(max_length=200, default="")
    token_encrypted = pw.TextField()
    token_expires_at = pw.DateTimeField(null=True)
    # None when the platform gave none. No default: rows written under an older schema's columns stay writable.
    refresh_token_encrypted = pw.TextField(null=True)
    status = pw.CharField(max_length=20, default="active")  # active | expired | invalid | disconnected
    status_reason = pw.TextField(default="")
    settings = JSONField(default=dict)
    checked_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("workspace", "platform", "external_id"), True),)


class PublishTask(BaseModel):
    """One post to one account: the unit a worker publishes (see :mod:`herald.publishing.tasks` for its states)."""

    workspace = pw.ForeignKeyField(Workspace, backref="publish_tasks", on_delete="CASCADE")
    post = pw.ForeignKeyField(Post, backref="tasks", on_delete="CASCADE")
    account = pw.ForeignKeyField(Account, backref="tasks", on_delete="CASCADE")
    platform = pw.CharField(max_length=40)
    status = pw.CharField(max_length=20, index=True)
    due_at = pw.DateTimeField(null=True)  # when a worker should next pick it up (active_due_index)
    lease_until = pw.DateTimeField(null=True)  # set while a worker is talking to the platform
    step = pw.IntegerField(default=0)  # bumped for every job enqueued, so each job id is new
    attempts = pw.IntegerField(default=0)
    state = JSONField(default=dict)  # what the platform saved between steps (container ids, ...)
    # An earlier attempt may have reached the platform and nothing has confirmed or ruled it out
    # (a worker died holding the task, a plugin raised or said so): reconcile before publishing again.
    maybe_live = pw.BooleanField(default=False)
    platform_post_id = pw.CharField(max_length=200, null=True)
    url = pw.TextField(null=True)
    error = pw.TextField(null=True)
    published_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("post", "account"), True),)


# The publish kind's active statuses (herald.publishing.tasks.STATUSES.active).
PublishTask.add_index(active_due_index(PublishTask, ("queued", "retrying", "publishing")))


class FirstComment(WorkRow):
    """The first comment of a published task: a work row of kind ``first_comment`` (see
    :mod:`herald.publishing.first_comments`), made when the task is published if its post asked for one."""

    task = pw.ForeignKeyField(PublishTask, backref="first_comments", unique=True, on_delete="CASCADE")
    workspace = pw.ForeignKeyField(Workspace, backref="first_comments", on_delete="CASCADE")
    text = pw.TextField()
    comment_id = pw.CharField(max_length=200, null=True)  # the platform's, once posted
    error = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


# The first_comment kind's (herald.publishing.first_comments.STATUSES.active).
FirstComment.add_index(active_due_index(FirstComment, ("pending", "posting")))


class OAuthState(BaseModel):
    """One OAuth connect flow started with ``POST /v1/accounts/connect``: the nonce of its signed
    ``state`` (used once: ``used_at``), the PKCE verifier (encrypted), where the browser goes back to
    and which accounts to connect. See :mod:`herald.publishing.oauth_connect`."""

    workspace = pw.ForeignKeyField(Workspace, backref="oauth_states", on_delete="CASCADE")
    nonce = pw.CharField(max_length=64, unique=True)
    platform = pw.CharField(max_length=40)
    code_verifier_encrypted = pw.TextField(default="")
    return_to = pw.TextField(default="")
    chosen = JSONField(default=list)  # external ids to connect; empty: every one the login offers
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField(index=True)
    used_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "oauth_state"


class IdempotencyRecord(BaseModel):
    """The stored outcome of a mutating request made with an ``Idempotency-Key``."""

    workspace = pw.ForeignKeyField(Workspace, backref="idempotency_records", on_delete="CASCADE")
    key = pw.CharField(max_length=255)
    method = pw.CharField(max_length=10)
    path = pw.CharField(max_length=500)
    request_hash = pw.CharField(max_length=64)
    status_code = pw.IntegerField(null=True)  # NULL while the first request is still running
    response_body = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField(index=True)

    class Meta:
        indexes = ((("workspace", "key"), True),)


class PortalToken(BaseModel):
    """A client portal link: ``/portal/<token>`` shows one client's posts; only the token's digest is stored."""

    workspace = pw.ForeignKeyField(Workspace, backref="portal_tokens", on_delete="CASCADE")
    client = pw.ForeignKeyField(Client, backref="portal_tokens", on_delete="CASCADE")
    name = pw.CharField(max_length=200, default="")
    digest = pw.CharField(max_length=64, unique=True)  # SHA-256 hex of the token in the URL
    display = pw.CharField(max_length=20)  # the token's last characters, to recognise a link
    permissions = pw.CharField(max_length=20)  # view | comment | approve
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()
    revoked_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)


class PostComment(BaseModel):
    """A comment on a post, from the client portal (``portal_token`` set) or the agency."""

    post = pw.ForeignKeyField(Post, backref="comments", on_delete="CASCADE")
    author = pw.CharField(max_length=200)
    body = pw.TextField()
    kind = pw.CharField(max_length=20, default="comment")  # comment | rejection (the reason given when rejecting)
    portal_token = pw.ForeignKeyField(PortalToken, backref="comments", null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow, index=True)
    author_kind = pw.CharField(max_length=20, default="client")  # client (portal) | agency (API)


MODELS = [Workspace, User, ApiKey, UserSession, Client, Media, MediaRendition, Post, PostVersion, EngagementSnapshot,
          PluginSetting, Event, Account, PublishTask, FirstComment, OAuthState, IdempotencyRecord, PortalToken,
          PostComment, Campaign, PostCount]

_plugin_cache = TTLCache(ttl=5.0)


def plugin_enabled(workspace_id: int, plugin: str) -> bool:
    """Whether ``plugin`` is enabled for the workspace (enabled unless an operator disabled it)."""
    key = (workspace_id, plugin)
    cached = _plugin_cache.get(key)
    if cached is not None:
        return cached
    row = (PluginSetting.select(PluginSetting.enabled)
           .where((PluginSetting.workspace == workspace_id) & (PluginSetting.plugin == plugin))
           .first())
    enabled = True if row is None else bool(row.enabled)
    _plugin_cache.set(key, enabled)
    return enabled


def set_plugin_enabled(workspace_id: int, plugin: str, enabled: bool, now: dt.datetime) -> None:
    """Enable or disable ``plugin`` for the workspace at ``now`` (the runtime's clock)."""
    (PluginSetting.insert(workspace=workspace_id, plugin=plugin, enabled=enabled, updated_at=now)
     .on_conflict(conflict_target=[PluginSetting.workspace, PluginSetting.plugin],
                  update={PluginSetting.enabled: enabled, PluginSetting.updated_at: now})
     .execute())
    _plugin_cache.discard((workspace_id, plugin))


# -- values plugins keep per workspace (herald.workspace_values) ---------------------------------------

class WorkspaceValue(BaseModel):
    """One value a plugin declared per workspace (``herald.settings.WorkspaceSetting``): an AI
    provider's API key, its model. A secret is kept only in ``value_encrypted`` (see
    :mod:`herald.crypto`), anything else in ``value``; both None when the value was cleared."""

    workspace = pw.ForeignKeyField(Workspace, backref="workspace_values", on_delete="CASCADE")
    plugin = pw.CharField(max_length=100)
    name = pw.CharField(max_length=100)
    value = pw.TextField(null=True)
    value_encrypted = pw.TextField(null=True)  # ciphertext
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("workspace", "plugin", "name"), True),)


MODELS.append(WorkspaceValue)


# -- a client's weekly posting slots (herald.publishing.slots) ----------------------------------------

class PostingSlot(BaseModel):
    """One weekly posting slot of a client: a weekday and a time of day in the client's time zone,
    shared by all the client's accounts (``account`` None) or reserved for one account. A slot holds
    no post: it is taken when a post of the client is scheduled at one of its instants."""

    workspace = pw.ForeignKeyField(Workspace, on_delete="CASCADE", index=False)
    client = pw.ForeignKeyField(Client, backref="posting_slots", on_delete="CASCADE")
    account = pw.ForeignKeyField(Account, null=True, on_delete="CASCADE", index=False)
    weekday = pw.SmallIntegerField()  # 0 is Monday, 6 Sunday (datetime.date.weekday)
    minute = pw.SmallIntegerField()  # minutes after local midnight: 540 is 09:00
    created_at = pw.DateTimeField(default=utcnow)


MODELS.append(PostingSlot)


# -- token refreshes of connected accounts (herald.publishing.token_refresh) ---------------------------

class TokenRefresh(WorkRow):
    """One refresh of an account's access token: a work row of kind ``token_refresh`` (see
    :mod:`herald.publishing.token_refresh`), made by the token health check when the token runs out
    soon, or by ``herald accounts refresh``. A transient failure is retried by the work kernel."""

    account = pw.ForeignKeyField(Account, backref="token_refreshes", on_delete="CASCADE")
    workspace = pw.ForeignKeyField(Workspace, on_delete="CASCADE", index=False)
    error = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


TokenRefresh.add_index(active_due_index(TokenRefresh, ("queued", "retrying", "running", "waiting")))
MODELS.append(TokenRefresh)


# -- AI: usage accounting, background jobs and the features' stored results --------------------------

class AIGeneration(BaseModel):
    """One call to an AI provider: ``reserved`` while it runs, then ``succeeded`` or ``failed``."""

    workspace = pw.ForeignKeyField(Workspace, backref="ai_generations", on_delete="CASCADE")
    client = pw.ForeignKeyField(Client, backref="ai_generations", null=True, on_delete="SET NULL")
    feature = pw.CharField(max_length=60)
    provider = pw.CharField(max_length=60)
    model = pw.CharField(max_length=100, default="")
    input_tokens = pw.IntegerField(default=0)
    output_tokens = pw.IntegerField(default=0)
    status = pw.CharField(max_length=20)
    error = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    # The background job that made the call, so the reconciler can release the slot of a job whose
    # worker died mid-call (BackgroundJob is defined below).
    job = pw.DeferredForeignKey("BackgroundJob", null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("workspace", "created_at"), False),)


class BackgroundJob(WorkRow):
    """Long work a request started (``job_…`` ids): queued → running → succeeded | failed; the work
    kind ``background`` (see :mod:`herald.ai.background`)."""

    id = pw.CharField(max_length=40, primary_key=True)
    workspace = pw.ForeignKeyField(Workspace, backref="background_jobs", on_delete="CASCADE")
    kind = pw.CharField(max_length=60)  # the feature (populate_hooks, …), shown by the API
    params = JSONField(default=dict)
    status = pw.CharField(max_length=20, default="queued", index=True)  # the reconciler looks for unfinished ones
    result = JSONField(null=True)
    progress = JSONField(null=True)  # how far a running job is (an export: phase, rows done, total)
    error_code = pw.CharField(max_length=60, null=True)
    error = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    started_at = pw.DateTimeField(null=True)
    finished_at = pw.DateTimeField(null=True)


class GeneratedOpener(BaseModel):
    """An opening line the AI wrote for a client (``populate-hooks``); one per client and wording."""

    workspace = pw.ForeignKeyField(Workspace, backref="generated_openers", on_delete="CASCADE")
    client = pw.ForeignKeyField(Client, backref="generated_openers", on_delete="CASCADE")
    text = pw.TextField()
    style = pw.CharField(max_length=40)
    fingerprint = pw.CharField(max_length=64)  # of the normalised wording, for de-duplication
    job = pw.ForeignKeyField(BackgroundJob, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "generated_hook"  # the API's word, from before the code called them openers
        indexes = ((("client", "fingerprint"), True),)


class CompetitorAnalysis(BaseModel):
    """The AI's reading of a competitor's page (``analyze-competitor``)."""

    workspace = pw.ForeignKeyField(Workspace, backref="competitor_analyses", on_delete="CASCADE")
    client = pw.ForeignKeyField(Client, backref="competitor_analyses", null=True, on_delete="SET NULL")
    url = pw.TextField()
    title = pw.TextField(default="")
    analysis = JSONField(default=dict)
    job = pw.ForeignKeyField(BackgroundJob, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)


class DesignTemplate(BaseModel):
    """A template built from a logo (``generate-template``): measured palette, AI typography and layout."""

    workspace = pw.ForeignKeyField(Workspace, backref="design_templates", on_delete="CASCADE")
    media = pw.ForeignKeyField(Media, null=True, on_delete="SET NULL")
    client = pw.ForeignKeyField(Client, backref="design_templates", null=True, on_delete="SET NULL")
    palette = JSONField(default=list)
    template = JSONField(default=dict)
    job = pw.ForeignKeyField(BackgroundJob, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)


# The background kind's active statuses (herald.ai.background.STATUSES.active).
BackgroundJob.add_index(active_due_index(BackgroundJob, ("queued", "running", "waiting")))
MODELS += [AIGeneration, BackgroundJob, GeneratedOpener, CompetitorAnalysis, DesignTemplate]


# -- stored caption features and current engagement per post (herald.intelligence.insights) --------------

class PostInsight(BaseModel):
    """What the intelligence reads need of one post, computed once and kept: its caption's features
    (:mod:`herald.captions.features`) and its current engagement (the newest snapshot of each source,
    summed; :func:`herald.intelligence.history.current_engagement`). ``caption_digest`` and
    ``last_snapshot_id`` say what they were computed from: a row whose post's caption or newest snapshot
    differs is stale and is computed again when next needed. Deleted with its post."""

    post = pw.ForeignKeyField(Post, primary_key=True, on_delete="CASCADE")
    caption_digest = pw.CharField(max_length=32)
    first_line = pw.TextField()
    opener_style = pw.CharField(max_length=20)
    length = pw.IntegerField()
    words = pw.IntegerField()
    line_breaks = pw.IntegerField()
    paragraphs = pw.IntegerField()
    hashtags = pw.TextField()  # the caption's hashtags, space-separated, in order of first use
    keywords = pw.TextField()  # its significant words (features.significant_words), distinct, space-separated
    mentions = pw.IntegerField()
    emojis = pw.IntegerField()
    exclamations = pw.IntegerField()
    has_question = pw.BooleanField()
    cta = pw.CharField(max_length=40, null=True)
    sentences = pw.IntegerField()
    average_sentence_words = pw.DoubleField()
    average_word_length = pw.DoubleField()
    second_person = pw.BooleanField()
    last_snapshot_id = pw.BigIntegerField(null=True)  # the post's newest engagement snapshot when computed
    snapshots = pw.IntegerField(default=0)
    likes = pw.IntegerField(null=True)  # the current engagement; all None without any snapshot
    comments = pw.IntegerField(null=True)
    saves = pw.IntegerField(null=True)
    shares = pw.IntegerField(null=True)
    reach = pw.IntegerField(null=True)

    class Meta:
        table_name = "post_insight"


MODELS.append(PostInsight)


class IntelligenceRevision(BaseModel):
    """A client's revision: bumped by triggers (migration 0032) in the transaction of every write that can
    change what the intelligence reads see (its posts, their engagement snapshots, its name, time zone and
    brand voice). No row means revision 0. No foreign key: a client's deletion may bump it."""

    client_id = pw.IntegerField(primary_key=True)
    revision = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "intelligence_revision"


class IntelligencePostChange(BaseModel):
    """The last change of a post that the intelligence reads see, with its client and that client's
    revision then (kept by triggers, migration 0037; :mod:`herald.db.intelligence_revisions`). No foreign
    key: the triggers write it in the statements that change the post."""

    post_id = pw.IntegerField(primary_key=True)
    client_id = pw.IntegerField()
    revision = pw.BigIntegerField()

    class Meta:
        table_name = "intelligence_post_change"
        indexes = ((("client_id", "revision"), False),)


class IntelligenceWindow(BaseModel):
    """The revision of a client at the last write that may have changed which posts it has (a post inserted
    or deleted, or its workspace, client or status changed), kept by triggers (migration 0037)."""

    client_id = pw.IntegerField(primary_key=True)
    revision = pw.BigIntegerField()

    class Meta:
        table_name = "intelligence_window"


class IntelligenceResult(BaseModel):
    """One computed intelligence result of a client (``kind``: the learned model, memory, ...) as JSON,
    with the client's revision it was computed at (:mod:`herald.intelligence.results`)."""

    client_id = pw.IntegerField()
    kind = pw.CharField(max_length=40)
    revision = pw.BigIntegerField()
    body = pw.TextField()

    class Meta:
        table_name = "intelligence_result"
        indexes = ((("client_id", "kind"), True),)


MODELS.extend([IntelligenceRevision, IntelligenceResult])
# Tables computed from others and recomputed when missing: not data of their own, so the account
# export (herald.exports.archive) leaves them out.
DERIVED_TABLES = frozenset({PostInsight._meta.table_name, IntelligenceRevision._meta.table_name,
                            IntelligenceResult._meta.table_name})
# -- per-day figures the reports read (herald.db.daily_figures keeps them with triggers) -------------------

class DailyFigures(BaseModel):
    """What a workspace's client did on one UTC day: posts created and published, publish tasks that
    ended, and the newest engagement of the posts that went out that day (see
    :mod:`herald.db.daily_figures`). ``client_id`` 0: posts without a client. No foreign keys: the
    rows are written by triggers, also while a workspace's rows are being deleted."""

    workspace_id = pw.IntegerField()
    client_id = pw.IntegerField()
    day = pw.DateField()
    posts_created = pw.IntegerField(default=0)
    posts_published = pw.IntegerField(default=0)
    tasks_published = pw.IntegerField(default=0)
    tasks_failed = pw.IntegerField(default=0)
    tasks_unconfirmed = pw.IntegerField(default=0)
    engaged_posts = pw.IntegerField(default=0)
    likes = pw.BigIntegerField(default=0)
    comments = pw.BigIntegerField(default=0)
    saves = pw.BigIntegerField(default=0)
    shares = pw.BigIntegerField(default=0)
    reach = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "daily_figures"
        indexes = ((("workspace_id", "day", "client_id"), True),)


MODELS.append(DailyFigures)


class HourlyFigures(BaseModel):
    """The counts of :class:`DailyFigures` per UTC hour (``hour``: its start), kept by the same triggers:
    a period that does not start or end at midnight UTC sums whole hours instead of walking posts."""

    workspace_id = pw.IntegerField()
    hour = pw.DateTimeField()
    client_id = pw.IntegerField()
    posts_created = pw.IntegerField(default=0)
    posts_published = pw.IntegerField(default=0)
    tasks_published = pw.IntegerField(default=0)
    tasks_failed = pw.IntegerField(default=0)
    tasks_unconfirmed = pw.IntegerField(default=0)
    engaged_posts = pw.IntegerField(default=0)
    likes = pw.BigIntegerField(default=0)
    comments = pw.BigIntegerField(default=0)
    saves = pw.BigIntegerField(default=0)
    shares = pw.BigIntegerField(default=0)
    reach = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "hourly_figures"
        indexes = ((("workspace_id", "hour", "client_id"), True),)


MODELS.append(HourlyFigures)


class ClientAccount(BaseModel):
    """How many publish tasks of a client's posts go to an account (kept by the triggers of
    :mod:`herald.db.daily_figures`): a client's health looks at the accounts with tasks."""

    workspace_id = pw.IntegerField(index=True)
    client_id = pw.IntegerField()
    account_id = pw.IntegerField()
    tasks = pw.IntegerField(default=0)

    class Meta:
        table_name = "client_account"
        indexes = ((("client_id", "account_id"), True),)


MODELS.append(ClientAccount)

# The reports' short walks over one day's posts and tasks at the edges of a period (migration 0030).
POST_PUBLISHED_INDEX = "post_workspace_id_published_at"
Post.add_index(Post.workspace, Post.published_at, name=POST_PUBLISHED_INDEX)
PublishTask.add_index(PublishTask.workspace, PublishTask.updated_at, name="publishtask_workspace_id_updated_at")
EngagementSnapshot.add_index(EngagementSnapshot.post, EngagementSnapshot.recorded_at, EngagementSnapshot.id,
                             name="engagementsnapshot_post_id_recorded_at_id")
Post.add_index(Post.workspace, pw.SQL("COALESCE(published_at, scheduled_at, created_at)"),
               name="post_workspace_id_went_out")
Post.add_index(Post.workspace, Post.client, Post.status, where=Post.status == "pending_approval",
               name="post_pending_approval")  # status too: the count reads the index alone
PublishTask.add_index(PublishTask.workspace, PublishTask.created_at, where=PublishTask.status == "pending_approval",
                      name="publishtask_pending_approval")
# The client portal's lists, in their orders (migration 0036; SQLite's indexes omit NULLS, its defaults).
Post.add_index(Post.client, Post.status, Post.published_at.desc(nulls="last"), Post.id.desc(),
               name="post_client_id_status_published_at")
Post.add_index(Post.client, Post.status, Post.scheduled_at.asc(nulls="first"), Post.id,
               name="post_client_id_status_scheduled_at")
Post.add_index(Post.client, Post.status, Post.updated_at.desc(), Post.id.desc(),
               name="post_client_id_status_updated_at")

# -- per-hour engagement /v1/analytics and the portal read (herald.db.engagement_hours keeps them with triggers) --


class EngagementOwnerHour(BaseModel):
    """The newest figures of the posts that went out in one UTC hour, per owner (platform, account: ``''``
    and 0 where not known); ``client_id`` 0: posts without a client, -1: the whole workspace."""

    workspace_id = pw.IntegerField()
    client_id = pw.IntegerField()
    hour = pw.DateTimeField()
    platform = pw.CharField(max_length=40)
    account_id = pw.IntegerField()
    posts = pw.IntegerField(default=0)
    likes = pw.BigIntegerField(default=0)
    comments = pw.BigIntegerField(default=0)
    saves = pw.BigIntegerField(default=0)
    shares = pw.BigIntegerField(default=0)
    reach = pw.BigIntegerField(default=0)
    impressions = pw.BigIntegerField(default=0)
    impressions_reported = pw.IntegerField(default=0)

    class Meta:
        table_name = "engagement_owner_hour"
        indexes = ((("workspace_id", "client_id", "hour", "platform", "account_id"), True),)


class EngagementPostHour(BaseModel):
    """The measured posts that went out in one UTC hour and their interactions (as above)."""

    workspace_id = pw.IntegerField()
    client_id = pw.IntegerField()
    hour = pw.DateTimeField()
    posts = pw.IntegerField(default=0)
    interactions = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "engagement_post_hour"
        indexes = ((("workspace_id", "client_id", "hour"), True),)


class EngagementGainHour(BaseModel):
    """The interactions a client's posts of one status gained in the snapshots recorded in one UTC hour."""

    workspace_id = pw.IntegerField()
    client_id = pw.IntegerField()
    status = pw.CharField(max_length=30)
    hour = pw.DateTimeField()
    interactions = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "engagement_gain_hour"
        indexes = ((("workspace_id", "client_id", "status", "hour"), True),)


class EngagementStatus(BaseModel):
    """The sums of the newest snapshot of a client's posts of one status."""

    workspace_id = pw.IntegerField()
    client_id = pw.IntegerField()
    status = pw.CharField(max_length=30)
    likes = pw.BigIntegerField(default=0)
    comments = pw.BigIntegerField(default=0)
    saves = pw.BigIntegerField(default=0)
    shares = pw.BigIntegerField(default=0)
    reach = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "engagement_status"
        indexes = ((("workspace_id", "client_id", "status"), True),)


ENGAGEMENT_HOURS_MODELS = [EngagementOwnerHour, EngagementPostHour, EngagementGainHour, EngagementStatus]
MODELS.extend(ENGAGEMENT_HOURS_MODELS)
