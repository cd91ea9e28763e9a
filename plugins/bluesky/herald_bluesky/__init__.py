"""Bluesky for Herald: posts (text, up to 4 images with alt text, links, mentions and hashtags as
facets), first comments as replies, engagement, over plain XRPC (docs/platforms/bluesky.md).

An account connects with its handle and an app password (``"<handle>:<app password>"``), on
``https://bsky.social`` or the PDS the user names; Herald keeps the app password as the account's
token and signs in as needed (:mod:`herald_bluesky.session`). A post never goes out twice: its record
key is chosen by Herald and saved before the first create (:mod:`herald_bluesky.tid`,
:mod:`herald_bluesky.records`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from herald.sdk import (
    AccountRef,
    ConnectedAccount,
    ConnectField,
    ConnectFlow,
    Platform,
    PlatformRejected,
    PlatformUnavailable,
    PostRef,
    PostRules,
    PublishOutcome,
    TaskContext,
    TokenHealth,
    hookimpl,
)

from . import records, richtext, rules, session, settings, tid
from .records import MediaUnreadable
from .session import Account
from .xrpc import XrpcError, call, trusted

PDS = ConnectField("pds", "the address of the account's PDS, when it is not Bluesky's (https://bsky.social)",
                   pattern=r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?", required=False)
KEY_TAKEN = ("Another record already has the key Herald chose for this post; nothing was overwritten. "
             "Publish the post again.")


def iso(moment: dt.datetime) -> str:
    """A datetime as Bluesky writes them (``2026-12-07T00:16:43.123Z``)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def account_of(account: AccountRef, config: Any) -> Account:
    """Calls on ``account``'s PDS, signed in with its app password."""
    return Account(config, account.settings["pds"], account.external_id, account.token)


def unavailable(err: XrpcError) -> PlatformUnavailable:
    """The exception for a failure worth asking again about later."""
    return PlatformUnavailable(err.reason, retry_after=err.retry_after, uncertain=err.uncertain)


class BlueskyPlatform(Platform):
    """Publishes to a Bluesky account (any PDS) with an app password."""

    name = "bluesky"
    post_types = ("post", "carousel")  # several images (a "carousel" to Herald) are one post on Bluesky
    connect_flow = ConnectFlow(kind="app_password", fields=(PDS,))
    #: Per-post options (``PostRef.options``, when the core hands them): the post's languages.
    options_schema: ClassVar[dict] = {"type": "object", "additionalProperties": False, "properties": {
        "langs": {"type": "array", "maxItems": 3,
                  "items": {"type": "string", "pattern": "^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$"}}}}

    # -- accounts -----------------------------------------------------------------------------

    def connect(self, token: str, *, config: Any, details: dict[str, str]) -> ConnectedAccount:
        """Sign in with ``<handle>:<app password>`` on the account's PDS and say whose it is."""
        identifier, _, password = token.rpartition(":")
        identifier = identifier.strip().removeprefix("@")
        if not identifier or not password.strip():
            raise PlatformRejected("Give the account's handle and an app password as <handle>:<app password>.")
        pds = (details.get("pds") or settings.PDS_URL.value(config)).rstrip("/")
        if pds.startswith("http://") and not (trusted(pds, config) or settings.ALLOW_PRIVATE.value(config)):
            raise PlatformRejected("A PDS answers on https://.", field="details.pds")
        try:
            signed_in = session.sign_in(config, pds, identifier, password.strip())
        except XrpcError as err:
            if err.error == "BlockedURL":
                raise PlatformRejected(err.message, field="details.pds") from None
            if err.passing:
                raise unavailable(err) from None
            raise PlatformRejected(f"{pds} refused to sign in {identifier}: {err.message or err.error}") from None
        return ConnectedAccount(external_id=signed_in.did, username=signed_in.handle, token=password.strip(),
                                settings={"pds": pds})

    def token_health(self, account: AccountRef, *, config: Any) -> TokenHealth:
        """Whether the app password still signs in (it never expires; it can be revoked)."""
        try:
            session.sign_in(config, account.settings["pds"], account.external_id, account.token)
        except XrpcError as err:
            if err.credentials_refused:
                return TokenHealth("invalid", reason=f"Bluesky refused the app password: {err.message or err.error}")
            raise unavailable(err) from None
        return TokenHealth("active")

    # -- publishing ---------------------------------------------------------------------------

    def rules(self, post: PostRef) -> PostRules:
        """At most 4 images of up to 2 MB (:data:`herald_bluesky.rules.RULES`)."""
        return rules.RULES

    def check_post(self, post: PostRef) -> str | None:
        """Text over 300 graphemes or 3,000 bytes, videos, nothing to post."""
        return rules.post_problem(post)

    def publish(self, ctx: TaskContext) -> PublishOutcome:
        """Create the post under the task's own record key (saved first), unless it already exists."""
        problem = rules.post_problem(ctx.post)
        if problem:
            return PublishOutcome.permanent(problem)
        if ctx.state.get("uri"):
            return self._published(ctx, ctx.state["uri"])
        account = account_of(ctx.account, ctx.config)
        if "rkey" in ctx.state:  # an earlier attempt may have created it: never create without knowing
            looked = self._look(ctx, account)
            if looked is not None:
                return looked
        else:  # committed before anything is sent: every later attempt uses this key and time
            ctx.save_state(rkey=tid.for_task(ctx.task_id, ctx.now()), created_at=iso(ctx.now()))
        try:
            record = self._record(ctx, account)
            answer = records.create(account, ctx.account.external_id, ctx.state["rkey"], record)
        except MediaUnreadable as exc:
            return PublishOutcome.transient(str(exc))
        except XrpcError as err:
            return self._failed(ctx, account, err)
        ctx.remember(uri=answer["uri"], cid=answer.get("cid"))
        return self._published(ctx, answer["uri"])

    def reconcile(self, ctx: TaskContext) -> PublishOutcome | None:
        """After a crash: ``published`` when the record is at the task's key, None when it is not (then
        ``publish`` creates it, under the same key)."""
        if ctx.state.get("uri"):
            return self._published(ctx, ctx.state["uri"])
        if "rkey" not in ctx.state:
            return None
        return self._look(ctx, account_of(ctx.account, ctx.config))

    def _record(self, ctx: TaskContext, account: Account) -> dict:
        post = ctx.post
        langs = (getattr(post, "options", None) or {}).get("langs")
        record = records.text_record(account, post.caption, ctx.state["created_at"], langs)
        if post.media:
            record["embed"] = records.images_embed(account, ctx.config, post.media)
        return record

    def _look(self, ctx: TaskContext, account: Account) -> PublishOutcome | None:
        """Whether the post is at the task's key: ``published``, None (not there), ``permanent`` (another
        record holds the key) or ``transient`` (the PDS could not say: asked again before any create)."""
        try:
            found = records.get(account, ctx.account.external_id, ctx.state["rkey"])
        except XrpcError as err:
            if err.credentials_refused:
                return PublishOutcome.permanent(err.reason, account_status="invalid", maybe_live=True)
            return PublishOutcome.transient(f"{err.reason} Herald reads the post's key again before creating it.",
                                            err.retry_after, maybe_live=True)
        if found is None:
            return None
        if not records.is_same(found, {"text": ctx.post.caption, "createdAt": ctx.state["created_at"]}):
            return PublishOutcome.permanent(KEY_TAKEN)
        ctx.remember(uri=found["uri"], cid=found.get("cid"))
        return self._published(ctx, found["uri"])

    def _failed(self, ctx: TaskContext, account: Account, err: XrpcError) -> PublishOutcome:
        """The outcome of a create (or an upload) that failed with ``err``."""
        if err.credentials_refused:
            return PublishOutcome.permanent(err.reason, account_status="invalid")
        if err.uncertain or err.status >= 500:  # it may have been created (a taken key is a 500 too)
            looked = self._look(ctx, account)
            if looked is not None:
                return looked
        if err.passing:
            return PublishOutcome.transient(err.reason, err.retry_after)
        return PublishOutcome.permanent(err.reason)

    def _published(self, ctx: TaskContext, uri: str) -> PublishOutcome:
        return PublishOutcome.published(uri, url=records.web_url(ctx.account.username, records.split_uri(uri)[1]))

    # -- first comments -------------------------------------------------------------------------

    def post_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str:
        """Reply ``message`` to the post, under the key right after the post's; the reply's AT URI."""
        problem = richtext.too_long(message)
        if problem:
            raise PlatformRejected(problem)
        client = account_of(account, config)
        did, rkey = records.split_uri(platform_post_id)
        key = tid.following(rkey)
        try:
            parent = records.get(client, did, rkey)
            if parent is None:
                raise PlatformRejected("The post is no longer on Bluesky: no reply was made.")
            record = records.text_record(client, message, iso(dt.datetime.now(dt.UTC)))
            ref = {"uri": parent["uri"], "cid": parent["cid"]}
            record["reply"] = {"root": ref, "parent": ref}
            return records.create(client, did, key, record)["uri"]
        except XrpcError as err:
            if err.uncertain or err.status >= 500:
                found = self._own_reply(client, did, key, platform_post_id, message)
                if found:
                    return found
            if err.passing:
                raise unavailable(err) from None
            raise PlatformRejected(err.reason) from None

    def find_comment(self, account: AccountRef, platform_post_id: str, message: str, *,
                     config: Any) -> str | None:
        """The reply at the key right after the post's, when it is ours; else None."""
        did, rkey = records.split_uri(platform_post_id)
        try:
            return self._own_reply(account_of(account, config), did, tid.following(rkey), platform_post_id, message)
        except XrpcError as err:
            if err.passing:
                raise unavailable(err) from None
            raise PlatformRejected(err.reason) from None

    def _own_reply(self, client: Account, did: str, key: str, post_uri: str, message: str) -> str | None:
        found = records.get(client, did, key)
        value = (found or {}).get("value") or {}
        if found and ((value.get("reply") or {}).get("parent") or {}).get("uri") == post_uri \
                and value.get("text") == message:
            return found["uri"]
        return None

    # -- engagement -----------------------------------------------------------------------------

    def fetch_metrics(self, account: AccountRef, platform_post_id: str, *, config: Any) -> dict[str, int]:
        """Likes, reposts and quotes (as ``shares``) and replies (as ``comments``), from ``getPosts``."""
        appview = settings.APPVIEW_URL.value(config)
        params = {"uris": platform_post_id}
        try:
            if appview != settings.THROUGH_PDS:
                data = call(config, appview, "GET", "app.bsky.feed.getPosts", params=params)
            else:
                data = account_of(account, config).call("GET", "app.bsky.feed.getPosts", params=params)
        except XrpcError as err:
            if err.passing:
                raise unavailable(err) from None
            raise PlatformRejected(err.reason) from None
        post = next((item for item in data.get("posts", []) if item.get("uri") == platform_post_id), None)
        if post is None:
            raise PlatformUnavailable("Bluesky's AppView has not indexed the post yet.")
        return {"likes": int(post.get("likeCount") or 0), "comments": int(post.get("replyCount") or 0),
                "shares": int(post.get("repostCount") or 0) + int(post.get("quoteCount") or 0)}


@hookimpl
def register_platforms(register):
    """Provide the ``bluesky`` platform."""
    register(BlueskyPlatform())


@hookimpl
def register_settings(register):
    """Declare ``HERALD_BLUESKY_*``."""
    for setting in settings.ALL:
        register(setting)
