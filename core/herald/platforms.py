"""What the core hands a platform plugin, and what a platform hands back besides outcomes.

A platform object (registered through ``register_platforms``) has:

- ``name`` (``"instagram"``) and ``post_types`` (``("post", "reel", "carousel", "story")``);
- ``connect(token, *, config) -> ConnectedAccount``: check an access token a user pasted and say
  which account it is; raise :class:`PlatformRejected` when the token is not usable;
- ``publish(ctx) -> PublishOutcome``: publish ``ctx.post`` to ``ctx.account``;
- ``check(ctx) -> PublishOutcome`` (asynchronous platforms): called after ``publish`` or ``check``
  answered ``pending``, with what it saved in ``ctx.state``;
- ``reconcile(ctx) -> PublishOutcome | None``: called instead of ``publish`` when a task is found
  half-done after a crash (its ``ctx.state`` holds whatever was saved). Answer ``published`` when
  the platform already has the post, ``pending`` when it is still processing, ``None`` when nothing
  was published and ``publish`` may run again, ``unconfirmed`` when the platform cannot say (the
  task then ends ``unconfirmed`` and is never sent again). Find an earlier attempt by what was
  recorded before it was sent (its time window, an id), never by its position among recent posts;
- ``token_health(account, *, config) -> TokenHealth``;
- ``refresh_token(account, *, config) -> RefreshedToken | None`` (optional): a new token for an
  account whose token runs out within ``herald.publishing.accounts.REFRESH_WITHIN_DAYS`` days, asked by the
  token health check before it checks; None when this account's token cannot be refreshed;
- ``publishing_quota(account, *, config) -> PublishingQuota | None`` (optional): how much of the
  platform's posting quota the account has used (Instagram: 100 API posts in 24 hours);
- ``post_comment(account, platform_post_id, message, *, config) -> str`` (optional): add ``message``
  as the account's own comment under its published post (a *first comment*, asked for with
  ``first_comment`` on ``POST /v1/publish``); answer the comment's id. Raise :class:`PlatformRejected`
  when the platform refused, :class:`PlatformUnavailable` when it did not take the comment (retried
  later), with ``uncertain=True`` when the request went out and its answer was lost. A comment is
  posted at most once: it is sent again only after ``find_comment`` said it is not there, and never
  after a lost answer on a platform without ``find_comment``. ``comment_post_types`` (optional)
  lists the post types that can take comments (default: all of ``post_types``);
- ``find_comment(account, platform_post_id, message, *, config) -> str | None`` (optional): the id
  of the account's own comment ``message`` under its published post, or None after reading every
  comment and not finding it; raise :class:`PlatformUnavailable` to be asked later,
  :class:`PlatformRejected` when the comments cannot be read (the comment is then never sent again);
- ``check_post(post) -> str | None`` (optional): why the platform could never publish this post
  (no media on Instagram, too many images), asked before anything is queued so the request is a
  400 instead of a failed task later;
- ``fetch_metrics(account, platform_post_id, *, config) -> dict`` (optional).

Plugins must save each step with :meth:`TaskContext.save_state` *before* taking the next one
(e.g. the container id before ``media_publish``): the saved state is committed at once, and it is
what ``check`` and ``reconcile`` see after a worker dies. Values that only describe the outcome
about to be returned (the new post's id and permalink) can be set with :meth:`TaskContext.remember`
instead: the state is committed together with the outcome, in the same transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from .clock import Clock


class PlatformRejected(Exception):
    """The platform refused (a bad token, a missing permission); ``message`` says why, for the user."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class PlatformUnavailable(Exception):
    """The platform could not be reached or answered with a transient error; try again later.

    ``uncertain`` is true when the request was sent and its answer lost, so it may have taken effect.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, uncertain: bool = False):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.uncertain = uncertain


@dataclasses.dataclass(frozen=True)
class RefreshedToken:
    """What ``refresh_token`` answers: the account's new token and when it expires (None: never)."""

    token: str
    expires_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class PublishingQuota:
    """What ``publishing_quota`` answers: ``used`` of ``limit`` posts in a moving window of ``window_seconds``."""

    used: int
    limit: int
    window_seconds: float


@dataclasses.dataclass(frozen=True)
class MediaRef:
    """One media file attached to a post, as a platform sees it.

    ``url`` is a public, signed, expiring link under ``HERALD_PUBLIC_URL`` that the platform can
    fetch; ``kind`` is ``"image"`` or ``"video"``.
    """

    id: str
    kind: Literal["image", "video"]
    content_type: str
    url: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class PostRef:
    """The post being published: ``caption`` is the text to publish."""

    id: int
    caption: str
    post_type: str
    media: tuple[MediaRef, ...] = ()
    topic: str = ""


@dataclasses.dataclass(frozen=True)
class AccountRef:
    """A connected account: ``external_id`` is the platform's id (IG user id, Page id).

    ``token`` is the decrypted access token; ``settings`` holds what ``connect`` returned.
    """

    id: str
    platform: str
    external_id: str
    username: str
    token: str
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    token_expires_at: dt.datetime | None = None


@dataclasses.dataclass
class TaskContext:
    """One publish task (one post to one account), as a platform's ``publish``/``check`` sees it.

    ``state`` is what earlier calls saved for this task; ``attempt`` counts calls of ``publish``
    (1 on the first). ``config`` is the :class:`herald.config.Config` (``graph_base_url``, …);
    ``clock`` the runtime's (:meth:`now` reads it).
    """

    task_id: str
    post: PostRef
    account: AccountRef
    config: Any
    clock: Clock
    attempt: int = 1
    state: dict[str, Any] = dataclasses.field(default_factory=dict)
    _saver: Callable[[dict[str, Any]], None] | None = None

    def save_state(self, **values: Any) -> None:
        """Merge ``values`` into ``state`` and commit them before returning."""
        self.state.update(values)
        if self._saver is not None:
            self._saver(dict(self.state))

    def now(self) -> dt.datetime:
        """The runtime clock's time, timezone-aware (UTC), to keep in ``state`` or compare with the
        platform's timestamps."""
        return self.clock.now().replace(tzinfo=dt.UTC)

    def remember(self, **values: Any) -> None:
        """Merge ``values`` into ``state`` without a commit of their own: they are committed with the
        outcome ``publish``/``check``/``reconcile`` returns next (never use it for a step that a
        later call or a crash recovery depends on: that is :meth:`save_state`)."""
        self.state.update(values)

    @property
    def idempotency_key(self) -> str:
        """A stable key for this task, for platforms that accept one."""
        return f"herald-{self.task_id}"


@dataclasses.dataclass(frozen=True)
class ConnectedAccount:
    """What ``connect`` found out about a token: whose it is and until when it works.

    ``token`` is the token to store (a platform may exchange the pasted one, e.g. for a Page
    token); ``settings`` is kept with the account and handed back in :class:`AccountRef`.
    """

    external_id: str
    username: str
    token: str
    token_expires_at: dt.datetime | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TokenHealth:
    """Whether an account's token still works: ``status`` is ``active``, ``expired`` or ``invalid``."""

    status: Literal["active", "expired", "invalid"]
    expires_at: dt.datetime | None = None
    reason: str | None = None
