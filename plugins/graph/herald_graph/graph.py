"""A small client for Meta's Graph API, shared by the Facebook and Instagram plugins.

URLs are ``{HERALD_GRAPH_BASE_URL}/{HERALD_GRAPH_VERSION}/{path}`` (:mod:`herald_graph.settings`), so
the same code talks to ``https://graph.facebook.com`` or to a test's fake server. The access token travels in an
``Authorization: Bearer`` header (never in a URL, where proxies would log it); parameters go in
the query string of a GET and in a form-encoded body of a POST. Failures raise
:class:`~herald_graph.graph_errors.GraphError`, classified per Meta's error codes. Two calls are
made without a bearer token, as Meta documents them: the exchange of a short-lived user token for
a long-lived one (the token and the app secret in the query string) and the refresh of an
Instagram User token (the token in the query string, on the unversioned host).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.parse
from typing import Any

from herald.sdk import PlatformRejected, PlatformUnavailable, TokenHealth, http
from herald_graph import settings
from herald_graph.graph_errors import (
    INVALID,
    NETWORK,
    PERMISSION,
    TOKEN,
    GraphError,
    error_from_response,
    hint_for,
    network_error,
)

__all__ = ["TIMEOUT", "GraphClient", "GraphError", "api_root", "graph_time", "inspect_token", "invalid_token_reason",
           "long_lived_user_token", "metric_error_is_local", "parse_time", "refreshed_instagram_token",
           "refresh_error", "refreshed_user_token",
           "require_scopes", "require_valid", "token_expiry", "token_health", "utcnow"]

log = logging.getLogger("herald.graph")

TIMEOUT = 30.0  # seconds for one call; a video upload by URL answers at once, Meta fetches later
# A user token expiring sooner than this is a short-lived one (they last hours; long-lived ones ~60 days).
SHORT_LIVED = dt.timedelta(days=1)
USER_AGENT = "herald-graph/0.1"


def api_root(config: Any, instagram_login: bool = False, versioned: bool = True) -> str:
    """``https://graph.facebook.com/v25.0`` from the config's base URL and version.

    With ``instagram_login``, the host of the Instagram API with Instagram Login
    (``HERALD_INSTAGRAM_BASE_URL``, ``https://graph.instagram.com``): Instagram User tokens work
    there and only there, Facebook tokens everywhere else.
    """
    version = settings.GRAPH_VERSION.value(config)
    base = (settings.INSTAGRAM_BASE_URL if instagram_login else settings.GRAPH_BASE_URL).value(config).rstrip("/")
    return f"{base}/{version}" if versioned else base


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class GraphClient:
    """Calls the Graph API with one access token: ``GraphClient(config, token).get("me", fields="id")``
    (``root``: another Meta host, such as Instagram Login's ``api.instagram.com`` for its code exchange)."""

    def __init__(self, config: Any, token: str, *, timeout: float | None = None, instagram_login: bool = False,
                 versioned: bool = True, root: str | None = None):
        self.root = (root or api_root(config, instagram_login, versioned)).rstrip("/")
        self.host = urllib.parse.urlsplit(self.root).netloc
        self.token = token
        self.timeout = timeout or TIMEOUT

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """GET ``path`` (``"me"``, ``"<id>/media"``) with query ``params``; the JSON answer."""
        return self.request("GET", path, params)

    def post(self, path: str, **params: Any) -> dict[str, Any]:
        """POST ``params`` (form-encoded) to ``path``; the JSON answer."""
        return self.request("POST", path, params)

    def request(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one request; raise :class:`GraphError` for an error answer or no answer."""
        fields = {name: _encode(value) for name, value in params.items() if value is not None}
        url = f"{self.root}/{path.lstrip('/')}"
        data = None
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if method == "GET":
            if fields:
                url = f"{url}?{urllib.parse.urlencode(fields)}"
        else:
            data = urllib.parse.urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            answer = http.request(method, url, body=data, headers=headers, timeout=self.timeout)
        except http.SendFailed as exc:  # nothing reached the host: nothing took effect
            raise network_error(self.host, exc.reason, uncertain=False) from None
        except http.AnswerLost as exc:  # sent, then the answer was lost or timed out
            raise network_error(self.host, exc.reason, uncertain=method != "GET") from None
        if answer.status >= 400:
            raise error_from_response(answer.status, answer.body, answer.headers)
        try:
            parsed = json.loads(answer.body)
        except ValueError:
            raise GraphError(f"{self.host} answered with something that is not JSON", kind=NETWORK,
                             status=answer.status, uncertain=method != "GET") from None
        return parsed if isinstance(parsed, dict) else {"data": parsed}


# -- text ---------------------------------------------------------------------------------------

def same_text(first: str | None, second: str | None) -> bool:
    """Whether two texts (a caption, a comment) are the same once whitespace is normalised, as Meta
    may give them back."""
    return " ".join((first or "").split()) == " ".join((second or "").split())


# -- time ---------------------------------------------------------------------------------------

def utcnow() -> dt.datetime:
    """The current time, timezone-aware (UTC)."""
    return dt.datetime.now(dt.UTC)


def parse_time(value: str | None) -> dt.datetime | None:
    """A Graph timestamp (``2026-11-23T10:00:00+0000``) or an ISO string, as an aware datetime."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def graph_time(value: dt.datetime) -> str:
    """An aware datetime as a timestamp to keep in task state (ISO 8601, UTC)."""
    return value.astimezone(dt.UTC).isoformat()


# -- tokens -------------------------------------------------------------------------------------

def inspect_token(client: GraphClient) -> dict[str, Any] | None:
    """``debug_token``'s ``data`` for the client's own token, or None when the host cannot say.

    Raises :class:`GraphError` when the token itself is refused (190) or Meta is unavailable;
    other refusals (a host without ``debug_token``, one that wants an app token) give None.
    """
    try:
        return client.get("debug_token", input_token=client.token).get("data") or None
    except GraphError as err:
        if err.kind in (INVALID, PERMISSION):
            return None
        raise


def long_lived_user_token(config: Any, token: str, data: dict[str, Any] | None) -> str | None:
    """A long-lived user token (about 60 days) for the short-lived user ``token``, from Meta's
    ``oauth/access_token`` with the operator's app (``HERALD_META_APP_ID``, ``HERALD_META_APP_SECRET``).

    ``data`` is the token's ``debug_token`` data. None when no app is configured, when the token is
    not a short-lived user token, or when Meta refuses the exchange (a token made for another app,
    say): that is logged, and the caller goes on with the token it has.
    """
    app_id, app_secret = settings.META_APP_ID.value(config), settings.META_APP_SECRET.value(config)
    expiry = token_expiry(data)
    if not (app_id and app_secret) or not data or data.get("type") != "USER" or expiry is None:
        return None
    if expiry - utcnow() > SHORT_LIVED:
        return None
    try:
        answer = GraphClient(config, "").get("oauth/access_token", grant_type="fb_exchange_token", client_id=app_id,
                                             client_secret=app_secret, fb_exchange_token=token)
    except GraphError as err:
        log.warning("Meta did not exchange a short-lived user token for a long-lived one with app %s: %s "
                    "(the account keeps the short-lived token)", app_id, err.reason)
        return None
    return answer.get("access_token") or None


def refreshed_instagram_token(config: Any, token: str) -> tuple[str, dt.datetime | None]:
    """A new Instagram User token for ``token`` (Instagram Login), valid 60 days from now, and when it
    expires: ``GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token``.

    Meta refreshes long-lived tokens at least a day old that have not expired. Raises
    :class:`GraphError` when it does not.
    """
    client = GraphClient(config, "", instagram_login=True, versioned=False)
    answer = client.get("refresh_access_token", grant_type="ig_refresh_token", access_token=token)
    if not answer.get("access_token"):
        raise GraphError("Instagram answered the token refresh without a token", kind=NETWORK, uncertain=False)
    expires_in = answer.get("expires_in")
    expires_at = utcnow() + dt.timedelta(seconds=int(expires_in)) if expires_in else None
    return answer["access_token"], expires_at


def refreshed_user_token(config: Any, token: str) -> tuple[str, dt.datetime | None] | None:
    """A new long-lived Facebook user token for the long-lived user ``token`` (Facebook Login), and when
    it expires: Meta's ``oauth/access_token?grant_type=fb_exchange_token`` on ``graph.facebook.com``,
    with the operator's app (``HERALD_META_APP_ID``, ``HERALD_META_APP_SECRET``). None when no app is
    configured. Raises :class:`GraphError` when Meta refuses or cannot answer.

    Page tokens need none of this: one derived from a long-lived user token never expires.
    """
    app_id, app_secret = settings.META_APP_ID.value(config), settings.META_APP_SECRET.value(config)
    if not (app_id and app_secret):
        return None
    answer = GraphClient(config, "").get("oauth/access_token", grant_type="fb_exchange_token", client_id=app_id,
                                         client_secret=app_secret, fb_exchange_token=token)
    if not answer.get("access_token"):
        raise GraphError("Meta answered the token exchange without a token", kind=NETWORK, uncertain=False)
    expires_in = answer.get("expires_in")
    expires_at = utcnow() + dt.timedelta(seconds=int(expires_in)) if expires_in else None
    return answer["access_token"], expires_at


def refresh_error(err: GraphError) -> PlatformRejected | PlatformUnavailable:
    """What a plugin's ``refresh_token`` raises for ``err``: Meta's own words for a refused refresh
    (a token less than a day old, say), without the publishing hint a parameter error carries; a
    token error keeps its reconnect hint, a passing failure stays one."""
    if err.retryable or err.kind == TOKEN:
        return err.platform_error()
    return PlatformRejected(err.detail)


def token_expiry(data: dict[str, Any] | None) -> dt.datetime | None:
    """When a token expires, from ``debug_token`` data; None when it never does (``expires_at`` 0)."""
    expires_at = (data or {}).get("expires_at")
    if not expires_at:
        return None
    return dt.datetime.fromtimestamp(int(expires_at), dt.UTC)


def invalid_token_reason(data: dict[str, Any]) -> str:
    """Why ``debug_token`` says a token is not valid: Meta's message and a hint."""
    error = data.get("error") or {}
    message = (error.get("message") or "Meta says the access token is not valid").rstrip(".")
    return f"{message}. {hint_for(TOKEN, 190, error.get('subcode'))}"


def require_valid(data: dict[str, Any] | None) -> None:
    """Raise :class:`PlatformRejected` when ``debug_token`` data says the token is not valid."""
    if data is not None and not data.get("is_valid", True):
        raise PlatformRejected(invalid_token_reason(data))


def require_scopes(data: dict[str, Any] | None, needed: set[str], what: str) -> None:
    """Raise :class:`PlatformRejected` when the token's scopes (if known) include none of ``needed``."""
    scopes = (data or {}).get("scopes")
    if scopes is not None and not needed & set(scopes):
        names = " or ".join(sorted(needed))
        raise PlatformRejected(f"The access token lacks the {names} permission, which {what} needs. "
                               "Create a new token that grants it and connect again.")


def token_health(client: GraphClient, *, known_expiry: dt.datetime | None = None) -> TokenHealth:
    """Whether the client's token works: ``debug_token``, or ``/me`` on hosts without it.

    Raises :class:`~herald.platforms.PlatformUnavailable` when Meta cannot be asked right now.
    """
    try:
        data = inspect_token(client)
        if data is None:
            client.get("me", fields="id")
            return TokenHealth("active", expires_at=known_expiry)
    except GraphError as err:
        if err.kind == TOKEN:
            return TokenHealth("expired" if err.subcode == 463 else "invalid", reason=err.reason)
        if err.retryable:
            raise err.platform_error() from None
        return TokenHealth("invalid", reason=err.reason)
    if data.get("is_valid"):
        return TokenHealth("active", expires_at=token_expiry(data))
    subcode = (data.get("error") or {}).get("subcode")
    status = "expired" if subcode == 463 else "invalid"
    return TokenHealth(status, expires_at=token_expiry(data), reason=invalid_token_reason(data))


def metric_error_is_local(err: GraphError) -> bool:
    """Whether a metrics read failed for that metric only (unsupported, too few viewers), so the
    other metrics still count."""
    return err.kind in (INVALID, PERMISSION)
