"""Facebook Login for the OAuth connect flow, shared by the Instagram and Facebook plugins.

Meta's "Manually Build a Login Flow" guide
(developers.facebook.com/documentation/facebook-login/guides/advanced/manual-flow): the dialog is
``https://www.facebook.com/<version>/dialog/oauth?client_id&redirect_uri&state&scope&response_type=code``;
the code is exchanged with ``GET graph.facebook.com/<version>/oauth/access_token?client_id&redirect_uri
&client_secret&code`` for a short-lived user token (``{"access_token", "token_type", "expires_in"}``), which
``grant_type=fb_exchange_token`` turns into a long-lived one (about 60 days; research §3.1). The
Pages the user manages come from ``/me/accounts`` with their Page tokens, which never expire when
asked with a long-lived user token, and each Page's ``instagram_business_account``.
PKCE exists only in Meta's OIDC variant of this flow ("still in testing"), so the flows declare none.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from herald.sdk import AuthorizationRequest, ConnectFlow, NotConfigured, OAuthGrant, PlatformRejected
from herald_graph import settings
from herald_graph.graph import GraphClient, GraphError, utcnow

DIALOG_URL = "https://www.facebook.com/dialog/oauth"  # the app's default Graph version answers
TOKEN_URL = "https://graph.facebook.com/oauth/access_token"
PAGE_FIELDS = "id,name,access_token,tasks,instagram_business_account{id,username}"
MAX_PAGES = 20  # pages of /me/accounts (100 Pages each) read at most
APP_MEANING = ("your Meta app's id and secret, from the app dashboard's Settings > Basic; the app must list "
               "the redirect_uri POST /v1/accounts/connect answers among its Valid OAuth Redirect URIs")


def flow(*scopes: str) -> ConnectFlow:
    """The Facebook Login connect flow asking for ``scopes`` (a pasted token keeps working too)."""
    return ConnectFlow(kind="oauth2", authorize_url=DIALOG_URL, token_url=TOKEN_URL, scopes=scopes,
                       scope_separator=",")


def app_credentials(config: Any) -> tuple[str, str]:
    """The Meta app's id and secret; :class:`NotConfigured` naming both settings when one is missing."""
    app_id, app_secret = settings.META_APP_ID.value(config), settings.META_APP_SECRET.value(config)
    if not (app_id and app_secret):
        raise NotConfigured((settings.META_APP_ID.env, settings.META_APP_SECRET.env), APP_MEANING)
    return app_id, app_secret


def authorization_url(connect_flow: ConnectFlow, request: AuthorizationRequest, config: Any) -> str:
    """Facebook Login's dialog (``HERALD_FACEBOOK_DIALOG_URL``) for ``request`` with the operator's Meta app."""
    app_id, _ = app_credentials(config)
    dialog = dataclasses.replace(connect_flow, authorize_url=settings.FACEBOOK_DIALOG_URL.value(config))
    return dialog.dialog_url(app_id, request)


def _refused(err: GraphError, what: str) -> Exception:
    if err.retryable:
        return err.platform_error()
    return PlatformRejected(f"Meta refused {what}: {err.reason}", field="code")


def exchange_code(code: str, redirect_uri: str, config: Any) -> OAuthGrant:
    """The long-lived user token for the dialog's ``code`` (two calls: the code, then the long-lived exchange)."""
    app_id, app_secret = app_credentials(config)
    client = GraphClient(config, "")
    try:
        short = client.get("oauth/access_token", client_id=app_id, client_secret=app_secret, redirect_uri=redirect_uri,
                           code=code)
    except GraphError as err:
        raise _refused(err, "the authorisation code") from None
    if not short.get("access_token"):
        raise PlatformRejected("Meta answered the code exchange without a token.", field="code")
    try:
        long = client.get("oauth/access_token", grant_type="fb_exchange_token", client_id=app_id,
                          client_secret=app_secret, fb_exchange_token=short["access_token"])
    except GraphError as err:
        raise _refused(err, "a long-lived token for the login") from None
    token = long.get("access_token")
    if not token:
        raise PlatformRejected("Meta answered the long-lived token exchange without a token.", field="code")
    return OAuthGrant(access_token=token, expires_at=_expiry(long.get("expires_in")))


def _expiry(expires_in: Any) -> dt.datetime | None:
    try:
        return utcnow() + dt.timedelta(seconds=int(expires_in)) if expires_in else None
    except (TypeError, ValueError):
        return None


def managed_pages(grant: OAuthGrant, config: Any) -> list[dict[str, Any]]:
    """The Pages the login manages with a Page token each (``/me/accounts``, every page of it)."""
    client = GraphClient(config, grant.access_token)
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"fields": PAGE_FIELDS, "limit": 100}
    try:
        for _ in range(MAX_PAGES):
            answer = client.get("me/accounts", **params)
            pages += [page for page in answer.get("data", []) if page.get("access_token")]
            paging = answer.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                break
            params["after"] = after
    except GraphError as err:
        raise _refused(err, "the list of the login's Pages") from None
    return pages
