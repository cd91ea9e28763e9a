"""Instagram Login (Business Login for Instagram) for the OAuth connect flow, when
``HERALD_INSTAGRAM_OAUTH_LOGIN=instagram``: the account that logs in is the one connected, with an
Instagram User token that Herald refreshes before its 60 days run out.

Meta's "Business Login for Instagram" guide
(developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/business-login):
the authorisation window is ``https://www.instagram.com/oauth/authorize?client_id&redirect_uri&response_type=code
&scope&state``; the code is exchanged with ``POST https://api.instagram.com/oauth/access_token`` (form:
``client_id``, ``client_secret``, ``grant_type=authorization_code``, ``redirect_uri``, ``code``) for a short-lived
token, the Instagram-scoped user id and the permissions granted (``{"data": [{...}]}``; older answers are
flat); ``GET graph.instagram.com/access_token?grant_type=ig_exchange_token&client_secret&access_token``
("Access Token" reference) gives the long-lived token, ``{"access_token", "token_type", "expires_in"}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from herald.sdk import AuthorizationRequest, ConnectedAccount, ConnectFlow, NotConfigured, OAuthGrant, PlatformRejected
from herald_graph import settings
from herald_graph.graph import GraphClient, GraphError, utcnow

FLOW = ConnectFlow(kind="oauth2", authorize_url="https://www.instagram.com/oauth/authorize",
                   token_url="https://api.instagram.com/oauth/access_token",
                   scopes=("instagram_business_basic", "instagram_business_content_publish",
                           "instagram_business_manage_comments", "instagram_business_manage_insights"),
                   scope_separator=",")
APP_MEANING = ("your Instagram app's id and secret, from the App Dashboard's Instagram > API setup with Instagram "
               "login; the app must list the redirect_uri POST /v1/accounts/connect answers among its redirect URLs")


def chosen(config: Any) -> bool:
    """Whether the operator chose Instagram Login for connecting Instagram accounts."""
    return settings.INSTAGRAM_OAUTH_LOGIN.value(config) == "instagram"


def app_credentials(config: Any) -> tuple[str, str]:
    """The Instagram app's id and secret; :class:`NotConfigured` naming both settings when one is missing."""
    app_id, secret = settings.INSTAGRAM_APP_ID.value(config), settings.INSTAGRAM_APP_SECRET.value(config)
    if not (app_id and secret):
        raise NotConfigured((settings.INSTAGRAM_APP_ID.env, settings.INSTAGRAM_APP_SECRET.env), APP_MEANING)
    return app_id, secret


def authorization_url(request: AuthorizationRequest, config: Any) -> str:
    """Instagram's authorisation window for ``request``."""
    return FLOW.dialog_url(app_credentials(config)[0], request)


def _refused(err: GraphError, what: str) -> Exception:
    if err.retryable:
        return err.platform_error()
    return PlatformRejected(f"Instagram refused {what}: {err.reason}", field="code")


def exchange_code(code: str, redirect_uri: str, config: Any) -> OAuthGrant:
    """The long-lived Instagram User token (60 days) for the window's ``code``."""
    app_id, secret = app_credentials(config)
    exchange = GraphClient(config, "", root=settings.INSTAGRAM_API_URL.value(config))
    try:
        answer = exchange.post("oauth/access_token", client_id=app_id, client_secret=secret,
                               grant_type="authorization_code", redirect_uri=redirect_uri, code=code)
    except GraphError as err:
        raise _refused(err, "the authorisation code") from None
    short = (answer.get("data") or [answer])[0] if isinstance(answer.get("data"), list) else answer
    if not short.get("access_token"):
        raise PlatformRejected("Instagram answered the code exchange without a token.", field="code")
    try:
        long = GraphClient(config, "", instagram_login=True, versioned=False).get(
            "access_token", grant_type="ig_exchange_token", client_secret=secret, access_token=short["access_token"])
    except GraphError as err:
        raise _refused(err, "a long-lived token for the login") from None
    if not long.get("access_token"):
        raise PlatformRejected("Instagram answered the long-lived token exchange without a token.", field="code")
    expires_in = long.get("expires_in")
    expires_at = utcnow() + dt.timedelta(seconds=int(expires_in)) if expires_in else None
    permissions = short.get("permissions") or ""
    scopes = tuple(permissions.split(",") if isinstance(permissions, str) else permissions)
    return OAuthGrant(access_token=long["access_token"], expires_at=expires_at, scopes=scopes)


def account(grant: OAuthGrant, config: Any) -> ConnectedAccount:
    """The Instagram professional account that logged in (``/me`` on Instagram Login's host)."""
    try:
        me = GraphClient(config, grant.access_token, instagram_login=True).get("me", fields="id,username")
    except GraphError as err:
        raise _refused(err, "to say which account logged in") from None
    return ConnectedAccount(external_id=str(me["id"]), username=me.get("username") or str(me["id"]),
                            token=grant.access_token, token_expires_at=grant.expires_at,
                            settings={"login": "instagram"})
