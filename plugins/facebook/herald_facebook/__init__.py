"""Facebook Pages publisher for Herald (Meta Graph API: ``/feed``, ``/photos``, ``/videos``).

A connected account is a Page: ``external_id`` is the Page id, the token a Page access token
(``connect`` swaps a user token that manages exactly one Page for that Page's token). A post
(type ``post``) becomes, depending on its media:

- no media: ``POST /{page}/feed`` with ``message``;
- one image: ``POST /{page}/photos`` with ``url`` and ``caption``;
- one video: ``POST /{page}/videos`` with ``file_url`` and ``description``;
- several images: each uploaded with ``published=false`` to ``/{page}/photos``, then one
  ``POST /{page}/feed`` with ``message`` and ``attached_media``.

Never twice: ``publish_started_at`` (the first attempt) and ``publish_last_attempt_at`` (the latest)
are saved before the post is sent. When a later ``publish`` or ``reconcile`` finds them saved, it
first looks for the post on the Page: the Page's published posts are read within the window those
times bound (``since``/``until``, following ``paging.next`` however many posts came after it), and
a post with the same text in that window is ours. Meta keeps no marker of ours on a post that users
would not see, so the text within the recorded window is the match. One match is ``published``;
none means the attempt never reached Meta, so the post may be sent; when the list cannot be read to
the end of the window, or two posts match, the task is ``unconfirmed`` and never sent again (a read
that fails for a passing reason is tried again first, up to :data:`MAX_LOOKS` times).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from herald.sdk import (
    AccountRef,
    ConnectedAccount,
    Platform,
    PlatformRejected,
    PostRef,
    PublishOutcome,
    TaskContext,
    TokenHealth,
    hookimpl,
)
from herald_graph import comments, lookup, settings
from herald_graph.graph import (
    TIMEOUT,
    GraphClient,
    GraphError,
    graph_time,
    inspect_token,
    long_lived_user_token,
    metric_error_is_local,
    parse_time,
    require_scopes,
    require_valid,
    same_text,
    token_expiry,
    token_health,
)

MATCH_SLACK = dt.timedelta(seconds=60)  # clock difference allowed between Herald and Meta
# How long after an attempt started its post can appear: the request's own timeout, then the slack.
ATTEMPT_SPAN = dt.timedelta(seconds=TIMEOUT) + MATCH_SLACK
MAX_LOOKS = 3  # reads of the Page that fail for a passing reason before the task is unconfirmed
POST_FIELDS = "id,message,created_time,permalink_url"
UNCONFIRMED_HINT = ("Check the Page: if the post is missing, publish it again. Herald does not send it again "
                    "itself, so it is never posted twice.")
FACEBOOK = "https://www.facebook.com"


def post_problem(post: PostRef) -> str | None:
    """Why a post cannot go to a Page as it is, or None."""
    if post.post_type != "post":
        return f"Facebook Pages take plain posts, not a {post.post_type}."
    images = [media for media in post.media if media.kind == "image"]
    videos = [media for media in post.media if media.kind == "video"]
    if videos and (images or len(videos) > 1):
        return "A Facebook post takes several photos or one video, not both and not several videos."
    if not post.media and not post.caption.strip():
        return "The post has no text and no media to publish."
    return None


class FacebookPlatform(Platform):
    """Publishes to a Facebook Page through the Graph API."""

    name = "facebook"
    post_types = ("post",)

    # -- accounts -----------------------------------------------------------------------------

    def connect(self, token: str, *, config: Any, details: dict[str, str]) -> ConnectedAccount:
        """Check a Page token (or a user token managing one Page) and say which Page it is.

        A short-lived user token is first exchanged for a long-lived one when the operator's Meta
        app is configured: the Page token it gives then never expires, where one from a short-lived
        user token would last about an hour.
        """
        client = GraphClient(config, token)
        try:
            data = inspect_token(client)
            require_valid(data)
            if data and data.get("type") == "USER":
                longer = long_lived_user_token(config, token, data)
                if longer:
                    client = GraphClient(config, longer)
                    data = inspect_token(client)
                    require_valid(data)
                client, data = self._page_client(client, config)
            require_scopes(data, {"pages_manage_posts"}, "publishing to a Page")
            page = client.get("me", fields="id,name")
        except GraphError as err:
            raise err.platform_error() from None
        return ConnectedAccount(external_id=str(page["id"]), username=page.get("name") or str(page["id"]),
                                token=client.token, token_expires_at=token_expiry(data),
                                settings={"token_type": "PAGE", "scopes": (data or {}).get("scopes")})

    def _page_client(self, client: GraphClient, config: Any) -> tuple[GraphClient, dict[str, Any] | None]:
        """Swap a user token for the token of the one Page it manages."""
        pages = [page for page in client.get("me/accounts", fields="id,name,access_token,tasks").get("data", [])
                 if page.get("access_token")]
        if not pages:
            raise PlatformRejected("This Facebook user manages no Page: connect a Page access token, or the token "
                                   "of a user who manages the Page.")
        if len(pages) > 1:
            names = ", ".join(f"{page.get('name')} ({page['id']})" for page in pages)
            raise PlatformRejected(f"This token manages several Pages ({names}): connect the Page access token "
                                   "of the one Herald should publish to.")
        page = pages[0]
        if page.get("tasks") is not None and "CREATE_CONTENT" not in page["tasks"]:
            raise PlatformRejected(f"The user may not create content on the Page {page.get('name')}: ask a Page "
                                   "admin for that task, then connect again.")
        page_client = GraphClient(config, page["access_token"])
        page_data = inspect_token(page_client)
        require_valid(page_data)
        return page_client, page_data

    def token_health(self, account: AccountRef, *, config: Any) -> TokenHealth:
        """Whether the Page token still works (``debug_token``)."""
        return token_health(GraphClient(config, account.token), known_expiry=account.token_expires_at)

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, ctx: TaskContext) -> PublishOutcome:
        """Publish ``ctx.post`` on the Page, unless an earlier attempt already did."""
        problem = post_problem(ctx.post)
        if problem:
            return PublishOutcome.permanent(problem)
        client = GraphClient(ctx.config, ctx.account.token)
        try:
            if ctx.state.get("platform_post_id"):
                return PublishOutcome.published(ctx.state["platform_post_id"], url=ctx.state.get("url"))
            if ctx.state.get("publish_started_at"):
                found = self._look(ctx, client)
                if found:
                    return found
            return self._send(ctx, client)
        except GraphError as err:
            return err.outcome()

    def reconcile(self, ctx: TaskContext) -> PublishOutcome | None:
        """After a crash: ``published`` when the Page has our post, None when it was never sent."""
        if ctx.state.get("platform_post_id"):
            return PublishOutcome.published(ctx.state["platform_post_id"], url=ctx.state.get("url"))
        if not ctx.state.get("publish_started_at"):
            return None
        return self._look(ctx, GraphClient(ctx.config, ctx.account.token))

    def _send(self, ctx: TaskContext, client: GraphClient) -> PublishOutcome:
        post, page = ctx.post, ctx.account.external_id
        images = [media for media in post.media if media.kind == "image"]
        videos = [media for media in post.media if media.kind == "video"]
        caption = post.caption or None
        attached = self._upload_unpublished(ctx, client, images) if len(images) > 1 else []
        # The earliest and the latest attempt bound the search for our post after a crash.
        now = graph_time(ctx.now())
        ctx.save_state(publish_started_at=ctx.state.get("publish_started_at") or now, publish_last_attempt_at=now)
        try:
            if videos:
                answer = client.post(f"{page}/videos", file_url=videos[0].url, description=caption)
            elif images and not attached:
                answer = client.post(f"{page}/photos", url=images[0].url, caption=caption)
            else:  # read-after-write: the new post's permalink comes with the answer
                answer = client.post(f"{page}/feed", message=caption, fields="id,permalink_url",
                                     attached_media=[{"media_fbid": photo_id} for photo_id in attached] or None)
        except GraphError as err:
            if err.uncertain:  # the post may be live: look before anything is sent again
                found = self._look(ctx, client)
                if found:
                    return found
            raise
        post_id = str(answer.get("post_id") or answer["id"])
        url = answer.get("permalink_url") or self._permalink(client, post_id)
        ctx.remember(platform_post_id=post_id, url=url)  # committed with the outcome
        return PublishOutcome.published(post_id, url=url)

    def _upload_unpublished(self, ctx: TaskContext, client: GraphClient, images) -> list[str]:
        """Upload photos with ``published=false`` for a multi-photo post, reusing earlier uploads."""
        photo_ids = list(ctx.state.get("photo_ids") or [])
        for image in images[len(photo_ids):]:
            photo_ids.append(str(client.post(f"{ctx.account.external_id}/photos", url=image.url,
                                             published=False)["id"]))
            ctx.save_state(photo_ids=photo_ids)
        return photo_ids

    def _look(self, ctx: TaskContext, client: GraphClient) -> PublishOutcome | None:
        """Whether an earlier attempt made the post: ``published`` when the Page has it, None when it
        certainly does not, ``unconfirmed`` when that cannot be told (``transient`` first when the read
        failed for a passing reason and may be tried again)."""
        try:
            return self._find(ctx, client)
        except lookup.Undecided as exc:
            return PublishOutcome.unconfirmed(f"Herald could not tell whether an earlier attempt already published "
                                              f"this post: {exc.reason}. {UNCONFIRMED_HINT}")
        except GraphError as err:
            looks = int(ctx.state.get("failed_looks") or 0) + 1
            if err.retryable and looks < MAX_LOOKS:
                ctx.save_state(failed_looks=looks)
                return PublishOutcome.transient(f"{err.reason} Herald reads the Page again before sending the post, "
                                                "since an earlier attempt may have published it.", err.retry_after,
                                                maybe_live=True)
            return PublishOutcome.unconfirmed(f"Herald could not read the Page to see whether an earlier attempt "
                                              f"already published this post: {err.reason} {UNCONFIRMED_HINT}")

    def _find(self, ctx: TaskContext, client: GraphClient) -> PublishOutcome | None:
        """Our post on the Page: the same text, created within the window the recorded attempts bound.

        Raises :class:`lookup.Undecided` or :class:`GraphError` when the Page cannot be read to the end
        of that window."""
        started = parse_time(ctx.state.get("publish_started_at"))
        if started is None:
            return None
        last = parse_time(ctx.state.get("publish_last_attempt_at")) or started
        matches = {}
        for item in lookup.read_window(client, f"{ctx.account.external_id}/published_posts", fields=POST_FIELDS,
                                       since=started - MATCH_SLACK, until=max(last, started) + ATTEMPT_SPAN,
                                       time_field="created_time"):
            if same_text(item.get("message"), ctx.post.caption):
                matches[str(item["id"])] = item
        if len(matches) > 1:
            raise lookup.Undecided(f"{len(matches)} posts on the Page have this text within the time of the "
                                   f"attempts ({', '.join(sorted(matches))})")
        if not matches:
            return None
        item = next(iter(matches.values()))
        ctx.remember(platform_post_id=item["id"], url=item.get("permalink_url"))  # committed with the outcome
        return PublishOutcome.published(item["id"], url=item.get("permalink_url"))

    def _permalink(self, client: GraphClient, object_id: str) -> str | None:
        """The post's address on facebook.com, when Meta says (videos answer a relative path)."""
        try:
            link = client.get(object_id, fields="permalink_url").get("permalink_url")
        except GraphError:
            return None
        if link and link.startswith("/"):
            link = FACEBOOK + link
        return link

    def post_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str:
        """Comment ``message`` as the Page under its published post, photo or video (``pages_manage_engagement``);
        the comment's id."""
        return comments.post(GraphClient(config, account.token), platform_post_id, message)

    def find_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str | None:
        """The id of the Page's own comment ``message`` under its post, photo or video, or None when it is
        not there (``GET /{object-id}/comments``, newest first, matched on ``from.id`` and the text)."""
        return comments.find_own(GraphClient(config, account.token), platform_post_id, message, account.external_id,
                                 text_field="message", filter="stream", order="reverse_chronological")

    # -- metrics ------------------------------------------------------------------------------

    def fetch_metrics(self, account: AccountRef, platform_post_id: str, *, config: Any) -> dict[str, int]:
        """Reactions (as ``likes``), comments, shares and reach of a published post."""
        client = GraphClient(config, account.token)
        is_post = bool(re.fullmatch(r"\d+_\d+", platform_post_id))  # a video id has no Page prefix
        fields = "reactions.summary(true).limit(0),comments.summary(true).limit(0)" + (",shares" if is_post else "")
        try:
            data = client.get(platform_post_id, fields=fields)
        except GraphError as err:
            raise err.platform_error() from None
        metrics: dict[str, int | None] = {
            "likes": ((data.get("reactions") or {}).get("summary") or {}).get("total_count"),
            "comments": ((data.get("comments") or {}).get("summary") or {}).get("total_count"),
        }
        if is_post:
            metrics["shares"] = (data.get("shares") or {}).get("count", 0)
            metrics["reach"] = self._reach(client, platform_post_id)
        return {name: value for name, value in metrics.items() if value is not None}

    def _reach(self, client: GraphClient, post_id: str) -> int | None:
        try:
            answer = client.get(f"{post_id}/insights", metric="post_total_media_view_unique")
        except GraphError as err:
            if metric_error_is_local(err):
                return None
            raise err.platform_error() from None
        for item in answer.get("data", []):
            values = item.get("values") or [{}]
            if isinstance(values[0].get("value"), int):
                return values[0]["value"]
        return None


@hookimpl
def register_platforms(register):
    """Provide the ``facebook`` platform."""
    register(FacebookPlatform())


@hookimpl
def register_settings(register):
    """Declare the Graph API's settings (shared with the other Meta plugin: the same objects)."""
    for setting in settings.FACEBOOK_SETTINGS:
        register(setting)
