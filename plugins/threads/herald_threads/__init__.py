"""Threads publisher for Herald (Meta's Threads API on graph.threads.net; docs/platforms/threads.md).

An account is a Threads profile: ``external_id`` is its Threads user id, its token a Threads user
token (60 days, refreshed by Herald when it came through the OAuth flow). Publishing is the container
flow of :mod:`herald_threads.publishing` (text, one image or video, or a carousel); first comments are
replies (:mod:`herald_threads.replies`); engagement comes from the post's insights.
"""

from __future__ import annotations

from typing import Any

from herald.sdk import (
    AccountRef,
    AuthorizationRequest,
    ConnectedAccount,
    OAuthGrant,
    Platform,
    PostRef,
    PostRules,
    PublishingQuota,
    PublishOutcome,
    RefreshedToken,
    TaskContext,
    TokenHealth,
    hookimpl,
)
from herald_threads import connect, replies, settings
from herald_threads.client import ThreadsClient, ThreadsError
from herald_threads.publishing import Publisher, read_quota
from herald_threads.rules import rules_for, text_problem

# Threads' insight metrics, as Herald's engagement names them (views are impressions; replies comments).
METRICS = "views,likes,replies,reposts,quotes"


class ThreadsPlatform(Platform):
    """Publishes to a Threads profile through the Threads API."""

    name = "threads"
    post_types = ("post", "carousel")
    connect_flow = connect.FLOW
    # Per-post options (``variants.threads.options``): who may reply (the publishing reference's reply_control).
    options_schema = {"type": "object", "additionalProperties": False, "properties": {"reply_control": {
        "enum": ["everyone", "accounts_you_follow", "mentioned_only", "parent_post_author_only", "followers_only"],
        "description": "Who can reply to the post on Threads."}}}

    # -- accounts -----------------------------------------------------------------------------

    def authorization_url(self, request: AuthorizationRequest, *, config: Any) -> str:
        """Threads' authorisation window with the operator's Threads app (``HERALD_THREADS_APP_ID``)."""
        return connect.authorization_url(request, config)

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str | None, config: Any) -> OAuthGrant:
        """The login's 60-day token for the window's code."""
        return connect.exchange_code(code, redirect_uri, config, connect.utcnow())

    def list_connectable(self, grant: OAuthGrant, *, config: Any) -> list[ConnectedAccount]:
        """The Threads profile that logged in (a login is one profile)."""
        return [connect.account_of(grant, config)]

    def connect(self, token: str, *, config: Any, details: dict[str, str]) -> ConnectedAccount:
        """Check a pasted Threads user token and say whose profile it is."""
        return connect.connect_pasted(token, config, connect.utcnow())

    def token_health(self, account: AccountRef, *, config: Any) -> TokenHealth:
        """Whether the account's token still works (``GET /me``)."""
        return connect.token_health(config, account.token, account.token_expires_at)

    def refresh_token(self, account: AccountRef, *, config: Any) -> RefreshedToken | None:
        """A new 60-day token (``th_refresh_token``) for a token that runs out soon."""
        return connect.refreshed(config, account.token, connect.utcnow())

    def publishing_quota(self, account: AccountRef, *, config: Any) -> PublishingQuota | None:
        """How many of the 250 posts Threads allows through the API in 24 hours the account has used."""
        try:
            return read_quota(ThreadsClient(config, account.token), account.external_id)
        except ThreadsError as err:
            raise err.platform_error() from None

    # -- publishing ---------------------------------------------------------------------------

    def rules(self, post: PostRef) -> PostRules:
        """What Threads takes (:mod:`herald_threads.rules`): 500 characters, formats, sizes, 2-20 carousel items."""
        return rules_for(post)

    def check_post(self, post: PostRef) -> str | None:
        """Why Threads would refuse ``post``'s text once emojis count their UTF-8 bytes, or None."""
        return text_problem(post.caption or "")

    def publish(self, ctx: TaskContext) -> PublishOutcome:
        """Create the container(s), or carry on with the saved ones; publish when Threads is ready."""
        problem = text_problem(ctx.post.caption or "")
        if problem:
            return PublishOutcome.permanent(problem)
        return self._run(ctx)

    def check(self, ctx: TaskContext) -> PublishOutcome:
        """Read the saved container's status; publish it when it is ``FINISHED``."""
        return self._run(ctx)

    def reconcile(self, ctx: TaskContext) -> PublishOutcome | None:
        """After a crash: ``published`` when the saved container was published, ``pending`` when it is still
        usable, None when nothing can be live (``publish`` may run again)."""
        publisher = Publisher(ctx, ThreadsClient(ctx.config, ctx.account.token))
        try:
            return publisher.reconcile()
        except ThreadsError as err:
            return publisher.settle_error(err)

    def _run(self, ctx: TaskContext) -> PublishOutcome:
        publisher = Publisher(ctx, ThreadsClient(ctx.config, ctx.account.token))
        try:
            return publisher.run()
        except ThreadsError as err:
            return publisher.settle_error(err)

    def post_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str:
        """Reply ``message`` under the account's post (``threads_manage_replies``); the reply's id."""
        return replies.post_reply(ThreadsClient(config, account.token), account, platform_post_id, message)

    def find_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str | None:
        """The id of the account's own reply ``message`` under its post, or None after reading every reply."""
        return replies.find_own_reply(ThreadsClient(config, account.token), account, platform_post_id, message)

    # -- metrics ------------------------------------------------------------------------------

    def fetch_metrics(self, account: AccountRef, platform_post_id: str, *, config: Any) -> dict[str, int]:
        """Views (as impressions), likes, replies (as comments), and reposts plus quotes (as shares)."""
        try:
            answer = ThreadsClient(config, account.token).get(f"{platform_post_id}/insights", metric=METRICS)
        except ThreadsError as err:
            raise err.platform_error() from None
        values = {}
        for item in answer.get("data") or []:
            value = (item.get("values") or [{}])[0].get("value")
            if isinstance(value, int):
                values[item.get("name")] = value
        metrics = {"impressions": values.get("views"), "likes": values.get("likes"),
                   "comments": values.get("replies")}
        if "reposts" in values or "quotes" in values:
            metrics["shares"] = values.get("reposts", 0) + values.get("quotes", 0)
        return {name: value for name, value in metrics.items() if isinstance(value, int)}


@hookimpl
def register_platforms(register):
    """Provide the ``threads`` platform."""
    register(ThreadsPlatform())


@hookimpl
def register_settings(register):
    """Declare the Threads API's settings (host, version, timeout, the Threads app for OAuth)."""
    for setting in settings.ALL:
        register(setting)
