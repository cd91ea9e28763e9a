"""LinkedIn Pages for Herald: posts with text and images on a company Page, first comments,
engagement, and the OAuth connect flow of a Page administrator.

A connected account is a Page (organisation): ``external_id`` is its numeric id, the token is the
token of a member who administers it (LinkedIn publishes as the Page with the member's token). The
plugin's modules: :mod:`.client` (the REST client), :mod:`.errors` (what LinkedIn's errors mean),
:mod:`.connect` (OAuth, the Pages a member administers), :mod:`.images`, :mod:`.publishing` and
:mod:`.lookup` (publishing, and finding an earlier attempt), :mod:`.comments`, :mod:`.rules`,
:mod:`.text` (the ``little`` format). The facts are in docs/platforms/linkedin.md.
"""

from __future__ import annotations

import datetime as dt
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
    PublishOutcome,
    RefreshedToken,
    TaskContext,
    TokenHealth,
    hookimpl,
)
from herald_linkedin import comments, connect, publishing, rules, settings
from herald_linkedin.client import LinkedInClient
from herald_linkedin.errors import TOKEN, LinkedInError

__all__ = ["LinkedInPlatform"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LinkedInPlatform(Platform):
    """Publishes to LinkedIn company Pages through LinkedIn's versioned REST APIs."""

    name = "linkedin"
    post_types = ("post", "carousel")  # a carousel is LinkedIn's multi-image post
    connect_flow = connect.FLOW

    # -- accounts -----------------------------------------------------------------------------

    def authorization_url(self, request: AuthorizationRequest, *, config: Any) -> str:
        """LinkedIn's consent dialog with the operator's app (``HERALD_LINKEDIN_CLIENT_ID``)."""
        return connect.authorization_url(request, config)

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str | None, config: Any) -> OAuthGrant:
        """The member's 60-day access token (and refresh token, for approved apps) for the code."""
        return connect.exchange_code(code, redirect_uri, config, _now())

    def list_connectable(self, grant: OAuthGrant, *, config: Any) -> list[ConnectedAccount]:
        """The Pages the member administers, each with the member's token."""
        try:
            pages = connect.administered(config, grant.access_token)
        except LinkedInError as err:
            raise err.platform_error() from None
        return [connect.account_for(page, grant.access_token, grant.expires_at, grant.refresh_token)
                for page in pages]

    def connect(self, token: str, *, config: Any, details: dict[str, str]) -> ConnectedAccount:
        """A pasted member token whose member administers exactly one Page connects that Page."""
        try:
            pages = connect.administered(config, token)
        except LinkedInError as err:
            raise err.platform_error() from None
        if not pages:
            raise PlatformRejected("This LinkedIn member administers no Page: connect the token of a Page "
                                   "administrator (with w_organization_social, r_organization_social and "
                                   "rw_organization_admin).")
        if len(pages) > 1:
            names = ", ".join(f"{page['name']} ({page['id']})" for page in pages)
            raise PlatformRejected(f"This member administers several Pages ({names}): connect through "
                                   "POST /v1/accounts/connect and choose the Pages there.")
        return connect.account_for(pages[0], token, None)

    def token_health(self, account: AccountRef, *, config: Any) -> TokenHealth:
        """Whether the member's token works and the member still administers the Page."""
        try:
            pages = connect.administered(config, account.token, names=False)
        except LinkedInError as err:
            if err.kind == TOKEN:
                return TokenHealth(err.account_status, reason=err.reason)
            if err.retryable:
                raise err.platform_error() from None
            return TokenHealth("invalid", reason=err.reason)
        if account.external_id not in {page["id"] for page in pages}:
            return TokenHealth("invalid", reason="The member who connected this Page no longer administers it: "
                                                 "reconnect it as one of its administrators.")
        return TokenHealth("active", expires_at=account.token_expires_at)

    def refresh_token(self, account: AccountRef, *, config: Any) -> RefreshedToken | None:
        """A new 60-day access token from the refresh token kept at connect (None without one)."""
        if not account.refresh_token or not (settings.CLIENT_ID.value(config)
                                             and settings.CLIENT_SECRET.value(config)):
            return None
        try:
            token, expires_at = connect.refreshed(config, account.refresh_token, _now())
        except LinkedInError as err:
            raise err.platform_error() from None
        return RefreshedToken(token, expires_at)

    # -- publishing ---------------------------------------------------------------------------

    def rules(self, post: PostRef) -> PostRules:
        """What a Page post takes: 3,000 characters and up to 20 images (2 or more for a carousel)."""
        return rules.rules_for(post)

    def check_post(self, post: PostRef) -> str | None:
        """Why a Page could never take ``post`` (a video, an image of too many pixels), or None."""
        return rules.post_problem(post)

    def publish(self, ctx: TaskContext) -> PublishOutcome:
        """Publish ``ctx.post`` on the Page, unless an earlier attempt already did."""
        problem = rules.post_problem(ctx.post)
        if problem:
            return PublishOutcome.permanent(problem)
        return publishing.advance(ctx)

    def check(self, ctx: TaskContext) -> PublishOutcome:
        """After LinkedIn was still processing the images: go on from where ``publish`` stopped."""
        return publishing.advance(ctx)

    def reconcile(self, ctx: TaskContext) -> PublishOutcome | None:
        """After a crash: ``published`` when the Page has the post, None when it was never sent."""
        return publishing.reconcile(ctx)

    def post_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str:
        """Comment ``message`` as the Page under its post; the comment's id."""
        return comments.post(LinkedInClient(config, account.token), connect.organization_urn(account.external_id),
                             platform_post_id, message)

    def find_comment(self, account: AccountRef, platform_post_id: str, message: str, *, config: Any) -> str | None:
        """The id of the Page's own comment ``message`` under its post, or None when it is not there."""
        return comments.find_own(LinkedInClient(config, account.token),
                                 connect.organization_urn(account.external_id), platform_post_id, message)

    # -- engagement ---------------------------------------------------------------------------

    def fetch_metrics(self, account: AccountRef, platform_post_id: str, *, config: Any) -> dict[str, int]:
        """Likes, comments, shares, impressions and reach of a post (organizationalEntityShareStatistics)."""
        kind = "ugcPosts" if platform_post_id.startswith("urn:li:ugcPost:") else "shares"
        try:
            data = LinkedInClient(config, account.token).get(
                "organizationalEntityShareStatistics", q="organizationalEntity",
                organizationalEntity=connect.organization_urn(account.external_id),
                **{kind: [platform_post_id]}).data or {}
        except LinkedInError as err:
            raise err.platform_error() from None
        elements = data.get("elements") or [{}]
        stats = elements[0].get("totalShareStatistics") or {}
        names = {"likes": "likeCount", "comments": "commentCount", "shares": "shareCount",
                 "impressions": "impressionCount", "reach": "uniqueImpressionsCount"}
        return {ours: int(stats[theirs]) for ours, theirs in names.items() if isinstance(stats.get(theirs), int)}


@hookimpl
def register_platforms(register):
    """Provide the ``linkedin`` platform."""
    register(LinkedInPlatform())


@hookimpl
def register_settings(register):
    """Declare the LinkedIn plugin's settings."""
    for setting in settings.ALL:
        register(setting)
