"""Connecting Threads accounts: Threads' OAuth flow, a pasted token, and keeping the token alive.

Meta's "Get Access Tokens and Permissions" and "Long-Lived Access Tokens" guides
(docs/platforms/threads.md, "Connecting an account"): the window is
``https://threads.net/oauth/authorize?client_id&redirect_uri&scope&response_type=code&state``; the code
is exchanged with ``POST graph.threads.net/oauth/access_token`` (form: ``client_id``, ``client_secret``,
``grant_type=authorization_code``, ``redirect_uri``, ``code``) for a one-hour token, which
``GET /access_token?grant_type=th_exchange_token`` turns into a 60-day one; ``GET
/refresh_access_token?grant_type=th_refresh_token`` renews a long-lived token at least a day old.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from herald.sdk import (
    AuthorizationRequest,
    ConnectedAccount,
    ConnectFlow,
    NotConfigured,
    OAuthGrant,
    PlatformRejected,
    RefreshedToken,
    TokenHealth,
)
from herald_threads import settings
from herald_threads.client import INVALID, TOKEN, ThreadsClient, ThreadsError

log = logging.getLogger("herald.threads")

FLOW = ConnectFlow(kind="oauth2", authorize_url="https://threads.net/oauth/authorize",
                   token_url="https://graph.threads.net/oauth/access_token",
                   scopes=("threads_basic", "threads_content_publish", "threads_read_replies",
                           "threads_manage_replies", "threads_manage_insights"),
                   scope_separator=",")
APP_MEANING = ("your Meta app's Threads app id and secret (App Dashboard > App settings > Basic); the app must list "
               "the redirect_uri POST /v1/accounts/connect answers among its valid OAuth redirect URIs")


def utcnow() -> dt.datetime:
    """Now, for a token's expiry: the SDK hands connect and refresh calls no clock, and Threads counts
    ``expires_in`` from its own now anyway."""
    return dt.datetime.now(dt.UTC)


def app_credentials(config: Any) -> tuple[str, str]:
    """The Threads app's id and secret; :class:`NotConfigured` naming both settings when one is missing."""
    app_id, secret = settings.APP_ID.value(config), settings.APP_SECRET.value(config)
    if not (app_id and secret):
        raise NotConfigured((settings.APP_ID.env, settings.APP_SECRET.env), APP_MEANING)
    return app_id, secret


def authorization_url(request: AuthorizationRequest, config: Any) -> str:
    """Threads' authorisation window (``HERALD_THREADS_DIALOG_URL``) for ``request``."""
    app_id, _ = app_credentials(config)
    window = dataclasses.replace(FLOW, authorize_url=settings.DIALOG_URL.value(config))
    return window.dialog_url(app_id, request)


def _refused(err: ThreadsError, what: str) -> Exception:
    if err.retryable:
        return err.platform_error()
    return PlatformRejected(f"Threads refused {what}: {err.reason}", field="code")


def expiry(expires_in: Any, now: dt.datetime) -> dt.datetime | None:
    """When a token answered with ``expires_in`` seconds expires (None: not said)."""
    try:
        return now + dt.timedelta(seconds=int(expires_in)) if expires_in else None
    except (TypeError, ValueError):
        return None


def long_lived(config: Any, short_token: str) -> dict[str, Any]:
    """``th_exchange_token``'s answer for a short-lived token (raises :class:`ThreadsError`)."""
    _, secret = app_credentials(config)
    return ThreadsClient(config, "", versioned=False).get("access_token", grant_type="th_exchange_token",
                                                          client_secret=secret, access_token=short_token)


def exchange_code(code: str, redirect_uri: str, config: Any, now: dt.datetime) -> OAuthGrant:
    """The 60-day token of the login for the window's ``code`` (the code, then the long-lived exchange)."""
    app_id, secret = app_credentials(config)
    try:
        short = ThreadsClient(config, "", versioned=False).post(
            "oauth/access_token", client_id=app_id, client_secret=secret, grant_type="authorization_code",
            redirect_uri=redirect_uri, code=code)
    except ThreadsError as err:
        raise _refused(err, "the authorisation code") from None
    if not short.get("access_token"):
        raise PlatformRejected("Threads answered the code exchange without a token.", field="code")
    try:
        answer = long_lived(config, short["access_token"])
    except ThreadsError as err:
        raise _refused(err, "a long-lived token for the login") from None
    if not answer.get("access_token"):
        raise PlatformRejected("Threads answered the long-lived token exchange without a token.", field="code")
    return OAuthGrant(access_token=answer["access_token"], expires_at=expiry(answer.get("expires_in"), now),
                      extra={"user_id": str(short.get("user_id") or "")})


def profile(config: Any, token: str) -> dict[str, Any]:
    """The token's own profile (``GET /me?fields=id,username``); raises :class:`ThreadsError`."""
    me = ThreadsClient(config, token).get("me", fields="id,username")
    if not me.get("id"):
        raise ThreadsError("Threads did not say whose token this is", kind=INVALID)
    return me


def account_of(grant: OAuthGrant, config: Any) -> ConnectedAccount:
    """The Threads profile that logged in, with the grant's token."""
    try:
        me = profile(config, grant.access_token)
    except ThreadsError as err:
        raise _refused(err, "to say which profile logged in") from None
    return ConnectedAccount(external_id=str(me["id"]), username=me.get("username") or str(me["id"]),
                            token=grant.access_token, token_expires_at=grant.expires_at)


def connect_pasted(token: str, config: Any, now: dt.datetime) -> ConnectedAccount:
    """A pasted token's profile. With the Threads app configured, a short-lived token is first exchanged for
    a 60-day one (whose expiry Herald then knows and refreshes); a token Threads will not exchange (already
    long-lived) is kept as it is, its expiry unknown."""
    try:
        me = profile(config, token)
    except ThreadsError as err:
        if err.retryable:
            raise err.platform_error() from None
        raise PlatformRejected(f"Threads refused this token: {err.reason}") from None
    expires_at = None
    if settings.APP_ID.value(config) and settings.APP_SECRET.value(config):
        try:
            answer = long_lived(config, token)
            if answer.get("access_token"):
                token, expires_at = answer["access_token"], expiry(answer.get("expires_in"), now)
        except ThreadsError as err:
            log.info("Threads did not exchange the pasted token for a long-lived one (%s); it is kept as it is",
                     err.reason)
    return ConnectedAccount(external_id=str(me["id"]), username=me.get("username") or str(me["id"]), token=token,
                            token_expires_at=expires_at)


def token_health(config: Any, token: str, known_expiry: dt.datetime | None) -> TokenHealth:
    """Whether the token still works (``GET /me``): ``expired`` for 190/463, ``invalid`` for another 190."""
    try:
        profile(config, token)
    except ThreadsError as err:
        if err.kind == TOKEN:
            return TokenHealth(status="expired" if err.subcode == 463 else "invalid", reason=err.reason)
        raise err.platform_error() from None
    return TokenHealth(status="active", expires_at=known_expiry)


def refreshed(config: Any, token: str, now: dt.datetime) -> RefreshedToken:
    """A new 60-day token for ``token`` (``th_refresh_token``); Threads refreshes tokens at least a day old
    that have not expired."""
    try:
        answer = ThreadsClient(config, "", versioned=False).get("refresh_access_token", grant_type="th_refresh_token",
                                                                access_token=token)
    except ThreadsError as err:
        if err.retryable or err.kind == TOKEN:
            raise err.platform_error() from None
        raise PlatformRejected(err.message) from None
    if not answer.get("access_token"):
        raise PlatformRejected("Threads answered the token refresh without a token.")
    return RefreshedToken(token=answer["access_token"], expires_at=expiry(answer.get("expires_in"), now))
