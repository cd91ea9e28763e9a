"""Connecting LinkedIn Pages: LinkedIn's 3-legged OAuth and the Pages the member administers.

The dialog is ``www.linkedin.com/oauth/v2/authorization``; its code is exchanged, and a refresh token
later traded for a new access token, at ``/oauth/v2/accessToken`` (form-encoded, with the app's id and
secret). Access tokens last 60 days; approved apps also get a refresh token lasting a year from the
consent. The Pages come from ``organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED``,
their names from ``organizations/{id}``. See docs/platforms/linkedin.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import urllib.parse
from typing import Any

from herald.sdk import (
    AuthorizationRequest,
    ConnectedAccount,
    ConnectFlow,
    NotConfigured,
    OAuthGrant,
    PlatformRejected,
    http,
)
from herald_linkedin import settings
from herald_linkedin.client import LinkedInClient
from herald_linkedin.errors import LinkedInError, error_from_answer, network_error

DIALOG_PATH = "/oauth/v2/authorization"
TOKEN_PATH = "/oauth/v2/accessToken"
SCOPES = ("w_organization_social", "r_organization_social", "rw_organization_admin")
PAGE_SIZE = 100
MAX_PAGES = 10
APP_MEANING = ("your LinkedIn app's client id and secret (the app's Auth tab); the app must list the redirect_uri "
               "POST /v1/accounts/connect answers among its Authorized redirect URLs")

FLOW = ConnectFlow(kind="oauth2", authorize_url="https://www.linkedin.com" + DIALOG_PATH,
                   token_url="https://www.linkedin.com" + TOKEN_PATH, scopes=SCOPES)


def organization_urn(organization_id: str) -> str:
    """``urn:li:organization:<id>``."""
    return f"urn:li:organization:{organization_id}"


def app_credentials(config: Any) -> tuple[str, str]:
    """The LinkedIn app's client id and secret; :class:`NotConfigured` naming both when one is missing."""
    client_id, secret = settings.CLIENT_ID.value(config), settings.CLIENT_SECRET.value(config)
    if not (client_id and secret):
        raise NotConfigured((settings.CLIENT_ID.env, settings.CLIENT_SECRET.env), APP_MEANING)
    return client_id, secret


def authorization_url(request: AuthorizationRequest, config: Any) -> str:
    """LinkedIn's consent dialog for ``request`` with the operator's app."""
    client_id, _ = app_credentials(config)
    dialog = dataclasses.replace(FLOW, authorize_url=settings.OAUTH_URL.value(config).rstrip("/") + DIALOG_PATH)
    return dialog.dialog_url(client_id, request)


def _token_call(config: Any, **form: str) -> dict[str, Any]:
    """POST ``form`` (with the app's credentials) to the token endpoint; its JSON answer."""
    client_id, secret = app_credentials(config)
    url = settings.OAUTH_URL.value(config).rstrip("/") + TOKEN_PATH
    body = urllib.parse.urlencode({**form, "client_id": client_id, "client_secret": secret}).encode()
    try:
        answer = http.request("POST", url, body=body, timeout=settings.TIMEOUT.value(config),
                              headers={"Content-Type": "application/x-www-form-urlencoded",
                                       "Accept": "application/json"})
    except http.SendFailed as exc:
        raise network_error(urllib.parse.urlsplit(url).netloc, exc.reason, uncertain=False) from None
    except http.AnswerLost as exc:  # a code is single-use: a lost answer cannot be asked again
        raise network_error(urllib.parse.urlsplit(url).netloc, exc.reason, uncertain=True) from None
    if answer.status >= 400:
        raise error_from_answer(answer.status, answer.body, answer.headers)
    try:
        data = json.loads(answer.body or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict) or not data.get("access_token"):
        raise PlatformRejected("LinkedIn answered without an access token.", field="code")
    return data


def _expiry(now: dt.datetime, seconds: Any) -> dt.datetime | None:
    try:
        return now + dt.timedelta(seconds=int(seconds)) if seconds else None
    except (TypeError, ValueError):
        return None


def exchange_code(code: str, redirect_uri: str, config: Any, now: dt.datetime) -> OAuthGrant:
    """The member's access (and refresh) token for the dialog's ``code``."""
    try:
        data = _token_call(config, grant_type="authorization_code", code=code, redirect_uri=redirect_uri)
    except LinkedInError as err:
        if err.retryable:
            raise err.platform_error() from None
        raise PlatformRejected(f"LinkedIn refused the authorisation code: {err.detail}", field="code") from None
    scopes = tuple(scope for scope in str(data.get("scope") or "").replace(",", " ").split() if scope)
    return OAuthGrant(access_token=data["access_token"], expires_at=_expiry(now, data.get("expires_in")),
                      refresh_token=data.get("refresh_token") or "", scopes=scopes)


def refreshed(config: Any, refresh_token: str, now: dt.datetime) -> tuple[str, dt.datetime | None]:
    """A new access token for ``refresh_token`` and when it expires; raises :class:`LinkedInError`."""
    data = _token_call(config, grant_type="refresh_token", refresh_token=refresh_token)
    return data["access_token"], _expiry(now, data.get("expires_in"))


def administered(config: Any, token: str, *, names: bool = True) -> list[dict[str, Any]]:
    """The organisations the token's member administers (approved ADMINISTRATOR role), each as
    ``{"id", "name", "vanity_name"}`` (``names``: asked of ``organizations/{id}``, else the ids only);
    raises :class:`LinkedInError`."""
    client = LinkedInClient(config, token)
    ids: list[str] = []
    for page in range(MAX_PAGES):
        data = client.get("organizationAcls", q="roleAssignee", role="ADMINISTRATOR", state="APPROVED",
                          start=page * PAGE_SIZE, count=PAGE_SIZE).data or {}
        elements = data.get("elements") or []
        for element in elements:
            urn = str(element.get("organization") or element.get("organizationalTarget") or "")
            if urn.startswith("urn:li:organization:") and urn.rsplit(":", 1)[1] not in ids:
                ids.append(urn.rsplit(":", 1)[1])
        if len(elements) < PAGE_SIZE:
            break
    if not names:
        return [{"id": organization_id} for organization_id in ids]
    pages = []
    for organization_id in ids:
        found = client.get(f"organizations/{organization_id}").data or {}
        pages.append({"id": organization_id, "name": found.get("localizedName") or f"Organization {organization_id}",
                      "vanity_name": found.get("vanityName")})
    return pages


def account_for(page: dict[str, Any], token: str, expires_at: dt.datetime | None,
                refresh_token: str = "") -> ConnectedAccount:
    """The account Herald keeps for one administered Page (the member's token publishes as the Page)."""
    return ConnectedAccount(external_id=page["id"], username=page["name"], token=token, token_expires_at=expires_at,
                            refresh_token=refresh_token,
                            settings={"organization": organization_urn(page["id"]), "vanity_name": page["vanity_name"]})
