"""Instagram publisher for Herald (Meta Graph API, content-publishing container flow).

An account is an Instagram professional account: ``external_id`` is its IG user id. Its token is
either an Instagram User token (Instagram Login) or the Page token of the Facebook Page the
account is linked to (Facebook Login). Calls go to ``HERALD_GRAPH_BASE_URL`` with
``HERALD_GRAPH_VERSION``, through :mod:`herald_graph.graph`.

Publishing is asynchronous: ``publish`` creates the media container(s) and answers ``pending``
while Instagram processes them; ``check`` reads the container and publishes it when it is
``FINISHED`` (see :mod:`herald_instagram.publishing`). A container is published at most once,
so a repeated ``publish``, ``check`` or ``reconcile`` never makes a second post.
"""

from __future__ import annotations

from typing import Any

from herald.sdk import (
    AccountRef,
    AuthorizationRequest,
    ConnectedAccount,
    OAuthGrant,
    Platform,
    PlatformRejected,
    PostRef,
    PostRules,
    PublishingQuota,
    PublishOutcome,
    RefreshedToken,
    TaskContext,
    TokenHealth,
    hookimpl,
)
from herald_graph import comments, oauth, settings
from herald_graph.graph import (
    GraphClient,
    GraphError,
    inspect_token,
    metric_error_is_local,
    refresh_error,
    refreshed_instagram_token,
    refreshed_user_token,
    require_scopes,
    require_valid,
    token_expiry,
    token_health,
)
from herald_graph.graph_errors import INVALID
from herald_instagram import instagram_login as ig_login
from herald_instagram.publishing import Publisher, read_quota
from herald_instagram.rules import rules_for

PUBLISH_SCOPES = {"instagram_content_publish", "instagram_business_content_publish"}
WRONG_TOKEN = ("Paste an Instagram User access token, or the Page access token of the Facebook Page the "
               "Instagram professional account is linked to.")


def client_for(config: Any, account: AccountRef) -> GraphClient:
    """A Graph client for ``account``, on the host its token belongs to (see ``connect``)."""
    return GraphClient(config, account.token, instagram_login=(account.settings or {}).get("login") == "instagram")


class InstagramPlatform(Platform):
    """Publishes to an Instagram professional account through the Graph API."""

    name = "instagram"
    post_types = ("post", "reel", "carousel", "story")
    comment_post_types = ("post", "reel", "carousel")  # stories take replies by message, not comments
    # Facebook Login: the Instagram professional accounts linked to the Pages the user manages.
    connect_flow = oauth.flow("instagram_basic", "instagram_content_publish", "instagram_manage_comments",
                              "instagram_manage_insights", "pages_show_list", "pages_read_engagement")

    # -- accounts -----------------------------------------------------------------------------

    def authorization_url(self, request: AuthorizationRequest, *, config: Any) -> str:
        """Facebook Login's dialog with the operator's Meta app (``HERALD_META_APP_ID``), or Instagram's
        authorisation window with the Instagram app when ``HERALD_INSTAGRAM_OAUTH_LOGIN=instagram``."""
        if ig_login.chosen(config):
            return ig_login.authorization_url(request, config)
        return oauth.authorization_url(self.connect_flow, request, config)

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str | None, config: Any) -> OAuthGrant:
        """The login's long-lived token for the dialog's code (a Facebook user's, or an Instagram User's)."""
        if ig_login.chosen(config):
            return ig_login.exchange_code(code, redirect_uri, config)
        return oauth.exchange_code(code, redirect_uri, config)

    def list_connectable(self, grant: OAuthGrant, *, config: Any) -> list[ConnectedAccount]:
        """The Instagram professional accounts linked to the login's Pages, each with its Page's token (which
        never expires; the account remembers the Page, as when a Page token is pasted); with Instagram Login,
        the account that logged in, with its Instagram User token."""
        if ig_login.chosen(config):
            return [ig_login.account(grant, config)]
        found = []
        for page in oauth.managed_pages(grant, config):
            linked = page.get("instagram_business_account") or {}
            if not linked.get("id"):
                continue
            username = linked.get("username")
            if not username:
                try:
                    username = self._me(GraphClient(config, page["access_token"]), str(linked["id"]))["username"]
                except GraphError as err:
                    raise err.platform_error() from None
            found.append(ConnectedAccount(external_id=str(linked["id"]), username=username,
                                          token=page["access_token"],
                                          settings={"login": "facebook", "page_id": str(page["id"])}))
        return found

    def connect(self, token: str, *, config: Any, details: dict[str, str]) -> ConnectedAccount:
        """Check an Instagram User token (or a linked Page's token) and say which account it is.

        An Instagram User token (Instagram Login) works only on ``graph.instagram.com``, a Facebook
        token only on ``graph.facebook.com``. The host the token's form suggests (Instagram's start
        with ``IG``) is asked first, the other one when the first cannot parse the token at all; the
        account remembers its host (``settings["login"]``) for every later call.
        """
        hosts = (True, False) if token.startswith("IG") else (False, True)
        unparsed = None
        for instagram_login in hosts:
            try:
                return self._connect(GraphClient(config, token, instagram_login=instagram_login), instagram_login)
            except GraphError as err:
                if not (err.code == 190 and not err.subcode):  # a token this host knows: its answer stands
                    raise err.platform_error() from None
                unparsed = unparsed or err
        raise unparsed.platform_error() from None

    def _connect(self, client: GraphClient, instagram_login: bool) -> ConnectedAccount:
        data = inspect_token(client)
        require_valid(data)
        if not instagram_login and data and data.get("type") == "PAGE":
            page = client.get("me", fields="id,name,instagram_business_account{id,username}")
            account = page.get("instagram_business_account")
            if not account:
                raise PlatformRejected(f"The Facebook Page {page.get('name') or page.get('id')} has no "
                                       "Instagram professional account linked to it: link one in the Page's "
                                       "settings, then connect again.")
            settings = {"login": "facebook", "page_id": str(page["id"])}
        else:
            account = self._me(client)
            settings = {"login": "instagram" if instagram_login else "facebook"}
        require_scopes(data, PUBLISH_SCOPES, "publishing to Instagram")
        if not account.get("username"):
            account = self._me(client, account["id"])
        return ConnectedAccount(external_id=str(account["id"]), username=account["username"], token=client.token,
                                token_expires_at=token_expiry(data), settings=settings)

    def _me(self, client: GraphClient, node: str = "me") -> dict[str, Any]:
        try:
            account = client.get(node, fields="id,username")
        except GraphError as err:
            if err.kind == INVALID:  # e.g. a Facebook user token: users have no username
                raise PlatformRejected(f"Meta did not return an Instagram account for this token ({err.message}). "
                                       f"{WRONG_TOKEN}") from None
            raise
        if not account.get("username"):
            raise PlatformRejected(f"This token does not belong to an Instagram account. {WRONG_TOKEN}")
        return account

    def token_health(self, account: AccountRef, *, config: Any) -> TokenHealth:
        """Whether the account's token still works (``debug_token``, or ``/me`` where that is missing)."""
        return token_health(client_for(config, account), known_expiry=account.token_expires_at)

    def publishing_quota(self, account: AccountRef, *, config: Any) -> PublishingQuota | None:
        """How many of the posts Instagram allows through the API in 24 hours the account has used."""
        try:
            return read_quota(client_for(config, account), account.external_id)
        except GraphError as err:
            raise err.platform_error() from None

    def refresh_token(self, account: AccountRef, *, config: Any) -> RefreshedToken | None:
        """A new token for an account whose token runs out soon.

        Instagram Login: ``GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token``, a
        token valid 60 days (Meta refreshes tokens at least a day old). Facebook Login with a user
        token (``settings["token_type"] == "USER"``): Meta's ``fb_exchange_token`` on ``graph.facebook.com``,
        with the operator's Meta app. None for an account connected through a Facebook Page (a Page
        token from a long-lived user token does not expire) or without a Meta app.
        """
        kept = account.settings or {}
        try:
            if kept.get("login") == "instagram":
                token, expires_at = refreshed_instagram_token(config, account.token)
            elif kept.get("token_type") == "USER":
                fresh = refreshed_user_token(config, account.token)
                if fresh is None:
                    return None
                token, expires_at = fresh
            else:
                return None
        except GraphError as err:
            raise refresh_error(err) from None
        return RefreshedToken(token=token, expires_at=expires_at)

    # -- publishing ---------------------------------------------------------------------------

    def rules(self, post: PostRef) -> PostRules:
        """What Instagram takes in ``post``'s type (caption, media count, formats, sizes; see
        :mod:`herald_instagram.rules`): the core checks it before queueing and before sending."""
        return rules_for(post)

    def publish(self, ctx: TaskContext) -> PublishOutcome:
        """Create the container(s), or carry on with the saved ones; publish when Instagram is ready."""
        return self._run(ctx)

    def check(self, ctx: TaskContext) -> PublishOutcome:
        """Read the saved container's status; publish it when it is ``FINISHED``."""
        return self._run(ctx)

    def reconcile(self, ctx: TaskContext) -> PublishOutcome | None:
        """After a crash: ``published`` if the saved container was published, ``pending`` if it is
        still usable, None when there is no container (``publish`` may run again)."""
        if not ctx.state.get("container_id") and not ctx.state.get("media_id"):
            return None
        publisher = Publisher(ctx, client_for(ctx.config, ctx.account))
        try:
            return publisher.reconcile()
        except GraphError as err:
            return publisher.settle_error(err)

    def _run(self, ctx: TaskContext) -> PublishOutcome:
        if not ctx.post.media:  # the core checks the rules before sending; never index an empty post
            return PublishOutcome.permanent("Instagram needs an image or a video; this post has none.")
        publisher = Publisher(ctx, client_for(ctx.config, ctx.account))
        try:
            return publisher.run()
        except GraphError as err:
            return publisher.settle_error(err)

    def post_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str:
        """Comment ``message`` as the account under its published media (``instagram_manage_comments``, or
        ``instagram_business_manage_comments`` with Instagram Login); the comment's id."""
        return comments.post(client_for(config, account), platform_post_id, message)

    def find_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str | None:
        """The id of the account's own comment ``message`` under its media, or None when it is not there
        (``GET /{ig-media-id}/comments``, matched on ``from.id`` and the text)."""
        return comments.find_own(client_for(config, account), platform_post_id, message, account.external_id,
                                 text_field="text")

    # -- metrics ------------------------------------------------------------------------------

    def fetch_metrics(self, account: AccountRef, platform_post_id: str, *, config: Any) -> dict[str, int]:
        """Likes, comments, reach, saves and shares of a published media."""
        client = client_for(config, account)
        try:
            media = client.get(platform_post_id, fields="id,media_product_type,like_count,comments_count")
        except GraphError as err:
            raise err.platform_error() from None
        metrics: dict[str, Any] = {"likes": media.get("like_count"), "comments": media.get("comments_count")}
        names = ["reach", "shares"] + ([] if media.get("media_product_type") == "STORY" else ["saved"])
        try:
            insights = client.get(f"{platform_post_id}/insights", metric=",".join(names))
        except GraphError as err:
            if not metric_error_is_local(err):  # e.g. a story with too few viewers has no insights
                raise err.platform_error() from None
            insights = {}
        for item in insights.get("data", []):
            value = (item.get("values") or [{}])[0].get("value")
            metrics["saves" if item.get("name") == "saved" else item.get("name")] = value
        return {name: value for name, value in metrics.items() if isinstance(value, int)}


@hookimpl
def register_platforms(register):
    """Provide the ``instagram`` platform."""
    register(InstagramPlatform())


@hookimpl
def register_settings(register):
    """Declare the Graph API's settings (shared with the other Meta plugin: the same objects)."""
    for setting in settings.INSTAGRAM_SETTINGS:
        register(setting)
