"""What the core hands a platform plugin, and what a platform hands back besides outcomes.

A platform is an object registered through ``register_platforms``, best a subclass of
:class:`Platform`, whose methods document what the core calls and when. ``publish`` is the one a
platform must write; the others are capabilities it may leave out (:func:`herald.capabilities.provided`).

Plugins must save each step with :meth:`TaskContext.save_state` *before* taking the next one
(e.g. the container id before ``media_publish``): the saved state is committed at once, and it is
what ``check`` and ``reconcile`` see after a worker dies. Values that only describe the outcome
about to be returned (the new post's id and permalink) can be set with :meth:`TaskContext.remember`
instead: the state is committed together with the outcome, in the same transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from .capabilities import placeholder
from .clock import Clock
from .outcomes import PublishOutcome
from .post_rules import PostRules


class PlatformRejected(Exception):
    """The platform refused (a bad token, a missing permission); ``message`` says why, for the user."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotConfigured(Exception):
    """The operator has not set what a capability needs (``settings``: the ``HERALD_*`` names, such
    as a Meta app's id and secret for the OAuth connect flow); ``message`` says what they are."""

    def __init__(self, settings: tuple[str, ...], message: str):
        super().__init__(message)
        self.settings = tuple(settings)
        self.message = message


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
    fetch; ``kind`` is ``"image"`` or ``"video"``. The facts decoded at upload follow (None where
    unknown): dimensions as displayed, and for videos the duration, codecs and frame rate. When the
    platform's rules convert the file (a PNG for Instagram), all of it describes the converted file.
    ``alt_text`` is the description of what the media shows that the user gave ("" when none), for
    platforms that publish one (image descriptions for screen readers).
    """

    id: str
    kind: Literal["image", "video"]
    content_type: str
    url: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_rate: float | None = None
    alt_text: str = ""


@dataclasses.dataclass(frozen=True)
class PostRef:
    """The post being published: ``caption`` is the text to publish on this platform (the post's
    variant for it when the user wrote one, else the post's content).

    ``options`` are the post's options for this platform (``variants: {"mastodon": {"options":
    {"visibility": "unlisted"}}}``), already checked against the platform's ``options_schema``; empty
    when none were given.
    """

    id: int
    caption: str
    post_type: str
    media: tuple[MediaRef, ...] = ()
    topic: str = ""
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


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
    (1 on the first). ``config`` is the server's settings (:class:`herald.sdk.Config`: read the
    plugin's own with :meth:`herald.sdk.Setting.value`); ``clock`` the runtime's (:meth:`now` reads it).
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
    #: A refresh token to keep with the account (encrypted), when the platform gives one; an empty one
    #: never replaces a refresh token already stored.
    refresh_token: str = ""


@dataclasses.dataclass(frozen=True)
class AuthorizationRequest:
    """What the core hands ``authorization_url``: the signed, single-use ``state``, Herald's callback
    address (``redirect_uri``, ``HERALD_PUBLIC_URL/v1/accounts/callback/<platform>``) and, when the
    flow declares ``pkce``, the S256 ``code_challenge`` of a verifier the core keeps."""

    state: str
    redirect_uri: str
    code_challenge: str | None = None


@dataclasses.dataclass(frozen=True)
class OAuthGrant:
    """What ``exchange_code`` answers: the login's token (long-lived where the platform has such),
    when it expires, a refresh token if any, the scopes granted and anything else the platform's
    ``list_connectable`` needs (``extra``)."""

    access_token: str
    expires_at: dt.datetime | None = None
    refresh_token: str = ""
    scopes: tuple[str, ...] = ()
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TokenHealth:
    """Whether an account's token still works: ``status`` is ``active``, ``expired`` or ``invalid``."""

    status: Literal["active", "expired", "invalid"]
    expires_at: dt.datetime | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class ConnectField:
    """A value a user gives, besides the token, to connect an account (Mastodon's server address)."""

    name: str
    meaning: str
    pattern: str | None = None  # a regular expression the value must match, when there is one


@dataclasses.dataclass(frozen=True)
class ConnectFlow:
    """How a user connects an account of a platform, declared by the platform (``connect_flow``).

    ``kind`` is ``token`` (the user pastes an access token, checked by ``Platform.connect``),
    ``app_password`` (a handle and an app password, given as the token ``"<handle>:<password>"``)
    or ``oauth2`` (the platform's authorisation dialog: ``authorize_url``, ``token_url``, ``scopes``,
    ``pkce``). ``fields`` are the other values the user gives; ``connect`` receives them in
    ``details``.
    """

    kind: Literal["token", "app_password", "oauth2"] = "token"
    fields: tuple[ConnectField, ...] = ()
    authorize_url: str | None = None
    token_url: str | None = None
    scopes: tuple[str, ...] = ()
    pkce: bool = False
    scope_separator: str = " "  # RFC 6749 joins scopes with spaces; Meta takes commas

    def dialog_url(self, client_id: str, request: AuthorizationRequest, **extra: str) -> str:
        """The authorisation dialog's address for ``request``: ``authorize_url`` with the RFC 6749
        (section 4.1.1) parameters ``response_type=code``, ``client_id``, ``redirect_uri``, ``scope`` and
        ``state``, the RFC 7636 ``code_challenge`` (``S256``) when there is one, and ``extra``."""
        if not self.authorize_url:
            raise ValueError("this connect flow declares no authorize_url")
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": request.redirect_uri,
                  "state": request.state}
        if self.scopes:
            params["scope"] = self.scope_separator.join(self.scopes)
        if request.code_challenge:
            params.update(code_challenge=request.code_challenge, code_challenge_method="S256")
        params.update(extra)
        separator = "&" if "?" in self.authorize_url else "?"
        return f"{self.authorize_url}{separator}{urllib.parse.urlencode(params)}"


class Platform:
    """Base class of a platform plugin: subclass it, set ``name`` and ``post_types``, write ``publish``.

    Every other method is a capability the platform may leave out: the core calls only the methods
    a subclass overrides, and answers for the others (no first comments, no engagement pull, …).
    ``config`` is the server's settings (:class:`herald.sdk.Config`): read the plugin's own settings
    from it with :meth:`herald.sdk.Setting.value`.
    """

    #: The platform's name in the API (``"instagram"``): ``platforms`` of a post, ``platform`` of an account.
    name: ClassVar[str] = ""
    #: The post types it can publish (``("post", "reel", "carousel", "story")``).
    post_types: ClassVar[tuple[str, ...]] = ("post",)
    #: The post types that can take a first comment (None: all of ``post_types``).
    comment_post_types: ClassVar[tuple[str, ...] | None] = None
    #: How a user connects an account (:class:`ConnectFlow`; a pasted token by default).
    connect_flow: ClassVar[ConnectFlow] = ConnectFlow()
    #: JSON Schema of the per-post options it takes (``variants.<name>.options``, as ``PostRef.options``); None: none.
    options_schema: ClassVar[dict[str, Any] | None] = None

    @placeholder
    def connect(self, token: str, *, config: Any, details: dict[str, str]) -> ConnectedAccount:
        """Check a token a user gave and say which account it is (``POST /v1/accounts``).

        ``details`` holds the values of the ``connect_flow``'s fields. Raise
        :class:`PlatformRejected` when the token is not usable (the user sees its message, as a 400
        on ``access_token`` or its ``field``), :class:`PlatformUnavailable` when the platform cannot
        be asked now. A platform without ``connect`` cannot have accounts connected.
        """
        raise NotImplementedError

    @placeholder
    def authorization_url(self, request: AuthorizationRequest, *, config: Any) -> str:
        """The address of the platform's authorisation dialog for ``request`` (``POST
        /v1/accounts/connect``), usually ``self.connect_flow.dialog_url(<client id>, request)``.

        Raise :class:`NotConfigured` naming the settings the operator must set (an OAuth app's id and
        secret) when they are missing. A platform without it connects accounts by pasted tokens only.
        """
        raise NotImplementedError

    @placeholder
    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str | None, config: Any) -> OAuthGrant:
        """Exchange the authorisation ``code`` the dialog gave (``GET /v1/accounts/callback/<platform>``)
        for the login's token, turning a short-lived token into a long-lived one where the platform
        can. ``redirect_uri`` is the one the dialog was opened with; ``code_verifier`` the PKCE
        verifier (None without PKCE). Raise :class:`PlatformRejected` for a code the platform refuses,
        :class:`PlatformUnavailable` when it cannot be asked now, :class:`NotConfigured` as above."""
        raise NotImplementedError

    @placeholder
    def list_connectable(self, grant: OAuthGrant, *, config: Any) -> list[ConnectedAccount]:
        """The accounts the login of ``grant`` can publish to (a Facebook user's Pages, the Instagram
        accounts linked to them), each with the token to store for it; the core connects all of
        them, or those the user named. Raise as ``exchange_code`` does."""
        raise NotImplementedError

    @placeholder
    def publish(self, ctx: TaskContext) -> PublishOutcome:
        """Publish ``ctx.post`` to ``ctx.account`` and say how it went (required).

        Save each step with :meth:`TaskContext.save_state` before taking the next one. Answer
        ``PublishOutcome.published(...)``, ``pending(...)`` (asynchronous platforms: ``check`` is
        called later), ``transient(...)`` (tried again later, ``retry_after`` honoured) or
        ``permanent(...)``. Raising counts as a transient failure of unknown effect: the task is
        reconciled before anything is sent again.
        """
        raise NotImplementedError

    @placeholder
    def check(self, ctx: TaskContext) -> PublishOutcome:
        """Asynchronous platforms: called after ``publish`` or ``check`` answered ``pending``, with what
        was saved in ``ctx.state``; answers like ``publish``."""
        raise NotImplementedError

    @placeholder
    def reconcile(self, ctx: TaskContext) -> PublishOutcome | None:
        """Called instead of ``publish`` when a task is found half-done after a crash (``ctx.state``
        holds whatever was saved).

        Answer ``published`` when the platform already has the post, ``pending`` when it is still
        processing, None when nothing was published and ``publish`` may run again, ``unconfirmed``
        when the platform cannot say (the task then ends ``unconfirmed`` and is never sent again).
        Find an earlier attempt by what was recorded before it was sent (its time window, an id),
        never by its position among recent posts. A platform without ``reconcile`` has such a task
        end failed with ``maybe_live``: it is never sent twice.
        """
        raise NotImplementedError

    def rules(self, post: PostRef) -> PostRules | None:
        """What the platform takes in ``post``'s type (:class:`herald.sdk.PostRules`), or None for no
        declared limits. The core checks every post against them before it is queued (and in a dry
        run) and again before it is sent; ``post`` is given so that the rules may depend on it (several
        media on Instagram make a carousel)."""
        return None

    def check_post(self, post: PostRef) -> str | None:
        """Why the platform could never publish ``post`` (no media on Instagram, too many images), or
        None. Asked before anything is queued, so the request is a 400 instead of a failed task later."""
        return None

    @placeholder
    def post_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str:
        """Add ``message`` as the account's own comment under its published post (a *first comment*);
        answer the comment's id.

        Raise :class:`PlatformRejected` when the platform refused, :class:`PlatformUnavailable` when
        it did not take the comment (tried again later), with ``uncertain=True`` when the request went
        out and its answer was lost. A comment is sent again only after ``find_comment`` said it is
        not there, and never after a lost answer on a platform without ``find_comment``.
        """
        raise NotImplementedError

    @placeholder
    def find_comment(self, account: AccountRef, platform_post_id: str, message: str, *,
                     config: Any) -> str | None:
        """The id of the account's own comment ``message`` under its published post, or None after
        reading every comment and not finding it. Raise :class:`PlatformUnavailable` to be asked
        later, :class:`PlatformRejected` when the comments cannot be read (the comment is then never
        sent again)."""
        raise NotImplementedError

    @placeholder
    def token_health(self, account: AccountRef, *, config: Any) -> TokenHealth:
        """Whether the account's token still works (asked by the periodic token check, every 6 hours); an
        ``expired`` or ``invalid`` answer marks the account ``needs_reconnect``."""
        raise NotImplementedError

    @placeholder
    def refresh_token(self, account: AccountRef, *, config: Any) -> RefreshedToken | None:
        """A new token for an account whose token runs out soon (asked by the token health check
        before it checks), or None when this account's token cannot be refreshed."""
        raise NotImplementedError

    @placeholder
    def publishing_quota(self, account: AccountRef, *, config: Any) -> PublishingQuota | None:
        """How much of the platform's posting quota the account has used (Instagram: 100 API posts in
        24 hours), or None when the platform does not say."""
        raise NotImplementedError

    @placeholder
    def fetch_metrics(self, account: AccountRef, platform_post_id: str, *, config: Any) -> dict[str, int]:
        """The published post's engagement now (``likes``, ``comments``, ``shares``, ``saves``,
        ``reach``, ``impressions``: whichever the platform gives), for the periodic engagement pull.
        Raise :class:`PlatformUnavailable` to be asked later."""
        raise NotImplementedError
