"""XRPC over Herald's HTTP client: one call to a PDS or the AppView, and what its failure means.

XRPC (https://atproto.com/specs/xrpc) is ``GET /xrpc/<nsid>?params`` for queries and ``POST
/xrpc/<nsid>`` with a JSON (or raw blob) body for procedures; an error is ``{"error": <Name>,
"message": ...}`` with an HTTP status. A 429 carries ``RateLimit-Reset`` (epoch seconds).

The PDS an operator configured (``HERALD_BLUESKY_PDS_URL``) and the AppView are called with
``http.request``; a PDS a user named when connecting is checked first (``http.check_url``: no private,
loopback or metadata addresses unless ``HERALD_BLUESKY_ALLOW_PRIVATE``).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from herald.sdk import http

from .settings import ALLOW_PRIVATE, APPVIEW_URL, PDS_URL, TIMEOUT

POOL = http.ConnectionPool()  # keep-alive connections to the PDSes users named
READ_LIMIT = 4_000_000


class XrpcError(Exception):
    """A call that did not succeed: ``status`` (0 when no answer came), Bluesky's ``error`` name and
    ``message``; ``uncertain`` when the request went out and its answer was lost; ``retry_after``
    from the rate-limit headers."""

    def __init__(self, status: int, error: str, message: str, *, retry_after: float | None = None,
                 uncertain: bool = False):
        super().__init__(f"{error}: {message}" if error else message)
        self.status = status
        self.error = error
        self.message = message
        self.retry_after = retry_after
        self.uncertain = uncertain

    @property
    def reason(self) -> str:
        """Bluesky's words, for the user."""
        if self.status == 0:
            return f"Bluesky could not be reached: {self.message}"
        name = f" {self.error}" if self.error else ""
        return f"Bluesky answered {self.status}{name}: {self.message or 'no reason given'}"

    @property
    def passing(self) -> bool:
        """Worth asking again later: no answer, a rate limit or a server error."""
        return self.status == 0 or self.status == 429 or self.status >= 500

    @property
    def expired_token(self) -> bool:
        """The access token ran out (2 hours): refresh the session and call again."""
        return self.status == 400 and self.error == "ExpiredToken"

    @property
    def credentials_refused(self) -> bool:
        """The account's credentials no longer work: it must be reconnected."""
        return self.status == 401 or (self.status == 400 and self.error in (
            "InvalidToken", "AccountTakedown", "AccountDeactivated"))


def retry_after(headers: dict[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` or ``RateLimit-Reset`` (epoch seconds), or None."""
    try:
        if headers.get("retry-after"):
            return max(0.0, float(headers["retry-after"]))
        if headers.get("ratelimit-reset"):
            return max(0.0, float(headers["ratelimit-reset"]) - time.time())
    except ValueError:
        return None
    return None


def trusted(server: str, config: Any) -> bool:
    """Whether ``server`` is an address the operator configured (not checked against private ranges)."""
    return server.rstrip("/") in (PDS_URL.value(config), APPVIEW_URL.value(config))


def call(config: Any, server: str, method: str, nsid: str, *, token: str | None = None,
         params: dict[str, str] | None = None, body: Any = None, blob: bytes | None = None,
         content_type: str | None = None) -> dict:
    """Call ``nsid`` on ``server`` and answer its JSON body; raises :class:`XrpcError` otherwise."""
    url = f"{server.rstrip('/')}/xrpc/{nsid}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if blob is not None:
        data = blob
        headers["Content-Type"] = content_type or "application/octet-stream"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    timeout = TIMEOUT.value(config)
    try:
        if trusted(server, config):
            answer = http.request(method, url, body=data, headers=headers, timeout=timeout)
        else:
            target = http.check_url(url, allow_private=ALLOW_PRIVATE.value(config))
            answer = http.send(method, target, data, headers, timeout=timeout, read_limit=READ_LIMIT, pool=POOL)
    except (http.BlockedURL, http.Unresolvable) as exc:
        raise XrpcError(400, "BlockedURL", f"{server} cannot be used: {exc}") from None
    except http.AnswerLost as exc:
        raise XrpcError(0, "", f"the answer was lost ({exc})", uncertain=method != "GET") from None
    except http.SendFailed as exc:
        raise XrpcError(0, "", str(exc)) from None
    try:
        payload = json.loads(answer.body or b"null")
    except ValueError:
        payload = None
    if 200 <= answer.status < 300 and isinstance(payload, dict):
        return payload
    said = payload if isinstance(payload, dict) else {}
    raise XrpcError(answer.status, str(said.get("error") or ""), str(said.get("message") or ""),
                    retry_after=retry_after(answer.headers) if answer.status == 429 or answer.status >= 500 else None)
