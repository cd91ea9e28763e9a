"""A small client for the Threads API and what its errors mean for Herald (docs/platforms/threads.md).

URLs are ``{HERALD_THREADS_BASE_URL}/{HERALD_THREADS_API_VERSION}/{path}``; the token exchanges are
unversioned. The access token travels in an ``Authorization: Bearer`` header, never in a URL (the
exchanges take it as a parameter, as Meta defines them). Failures raise :class:`ThreadsError`,
classified by the Graph error envelope's ``code``/``error_subcode`` and ``is_transient``, not by the
HTTP status (Meta answers one code with several statuses).
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from herald.sdk import PlatformRejected, PlatformUnavailable, PublishOutcome, http
from herald_threads import settings

# Kinds of error.
TRANSIENT = "transient"  # codes 1, 2, is_transient, 5xx: retry with backoff
NETWORK = "network"  # no (complete) answer
RATE_LIMITED = "rate_limited"  # codes 4, 17, 32, 613 or HTTP 429: wait as the usage headers say
MISSING = "missing"  # 24/4279009 "Media Not Found": Threads does not know the container (yet)
TOKEN = "token"  # 190: the account must be reconnected
PERMISSION = "permission"  # 10, 200-299: a permission was not granted
INVALID = "invalid"  # the request itself is wrong: retrying cannot help

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
RATE_LIMIT_WAIT = 600.0  # seconds, when no header says how long
MEDIA_NOT_FOUND = 4279009
HINTS = {
    TOKEN: "The Threads access token is no longer valid: reconnect the account in Herald.",
    PERMISSION: "Herald lacks a Threads permission for this account: reconnect it and grant every permission "
                "Herald asks for (threads_content_publish, threads_manage_replies, ...).",
    RATE_LIMITED: "Threads is limiting how often Herald may call it; Herald will try again later.",
    TRANSIENT: "Threads had a temporary problem; Herald will try again.",
}
USER_AGENT = "herald-threads/0.1"


class ThreadsError(Exception):
    """A failed Threads API call: ``kind`` is one of this module's kinds, ``message`` Threads' own words.
    ``uncertain``: the request was sent and its answer lost, so it may have taken effect."""

    def __init__(self, message: str, *, kind: str, code: int | None = None, subcode: int | None = None,
                 status: int | None = None, retry_after: float | None = None, uncertain: bool = False):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code
        self.subcode = subcode
        self.status = status
        self.retry_after = retry_after
        self.uncertain = uncertain

    @property
    def reason(self) -> str:
        """What the user reads: Threads' message, its code, and what happens next."""
        code = f" (Threads API error {self.code}" + (f"/{self.subcode}" if self.subcode else "") + ")" \
            if self.code is not None else ""
        hint = HINTS.get(self.kind)
        return f"{self.message.rstrip('.')}{code}." + (f" {hint}" if hint else "")

    @property
    def retryable(self) -> bool:
        """Whether asking again later may succeed."""
        return self.kind in (TRANSIENT, NETWORK, RATE_LIMITED, MISSING)

    def outcome(self, *, maybe_live: bool = False) -> PublishOutcome:
        """The publish outcome this error comes to (``maybe_live``: an earlier request may be live)."""
        if self.retryable:
            return PublishOutcome.transient(self.reason, self.retry_after, maybe_live=maybe_live or self.uncertain)
        if self.kind == TOKEN:
            status = "expired" if self.subcode == 463 else "invalid"
            return PublishOutcome.permanent(self.reason, account_status=status, maybe_live=maybe_live)
        return PublishOutcome.permanent(self.reason, maybe_live=maybe_live)

    def platform_error(self) -> PlatformRejected | PlatformUnavailable:
        """The SDK exception for this error, for calls outside a publish task (connect, comments, metrics)."""
        if self.retryable:
            return PlatformUnavailable(self.reason, retry_after=self.retry_after, uncertain=self.uncertain)
        return PlatformRejected(self.reason)


def usage_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` or the Graph usage header's ``estimated_time_to_regain_access``
    (minutes; ``X-Business-Use-Case-Usage``), or None when neither says."""
    try:
        seconds = float(headers.get("retry-after") or "")
        if seconds > 0:
            return seconds
    except ValueError:
        pass
    try:
        usage = json.loads(headers.get("x-business-use-case-usage") or "{}")
    except ValueError:
        return None
    minutes = [float(entry["estimated_time_to_regain_access"])
               for entries in (usage.values() if isinstance(usage, dict) else ()) if isinstance(entries, list)
               for entry in entries if isinstance(entry, dict)
               and isinstance(entry.get("estimated_time_to_regain_access"), int | float)
               and entry["estimated_time_to_regain_access"] > 0]
    return max(minutes) * 60 if minutes else None


def error_from(status: int, body: bytes, headers: Mapping[str, str]) -> ThreadsError:
    """The :class:`ThreadsError` of an error answer."""
    try:
        error = json.loads(body or b"{}").get("error")
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        kind = RATE_LIMITED if status == 429 else TRANSIENT if status >= 500 else INVALID
        text = body[:200].decode(errors="replace").strip() if body else "no error message"
        return ThreadsError(f"Threads answered HTTP {status}: {text}", kind=kind, status=status,
                            retry_after=(usage_wait(headers) or RATE_LIMIT_WAIT) if kind == RATE_LIMITED else None)
    code, subcode = error.get("code"), error.get("error_subcode")
    if code == 190:
        kind = TOKEN
    elif code in RATE_LIMIT_CODES or status == 429:
        kind = RATE_LIMITED
    elif subcode == MEDIA_NOT_FOUND:
        kind = MISSING
    elif code in (1, 2) or error.get("is_transient") or status >= 500:
        kind = TRANSIENT
    elif code == 10 or (isinstance(code, int) and 200 <= code <= 299):
        kind = PERMISSION
    else:
        kind = INVALID
    message = error.get("message") or f"Threads answered HTTP {status}"
    if error.get("error_user_msg") and error["error_user_msg"] not in message:
        message = f"{message.rstrip('.')}: {error['error_user_msg']}"
    return ThreadsError(message, kind=kind, code=code, subcode=subcode, status=status,
                        retry_after=(usage_wait(headers) or RATE_LIMIT_WAIT) if kind == RATE_LIMITED else None)


@dataclasses.dataclass
class ThreadsClient:
    """Calls the Threads API with one token: ``ThreadsClient(config, token).get("me", fields="id")``
    (``versioned=False``: the unversioned token endpoints)."""

    config: Any
    token: str
    versioned: bool = True

    @property
    def root(self) -> str:
        """The base of every URL: the host, and the version unless unversioned."""
        base = settings.BASE_URL.value(self.config).rstrip("/")
        return f"{base}/{settings.API_VERSION.value(self.config)}" if self.versioned else base

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """GET ``path`` with query ``params``; the JSON answer."""
        return self.request("GET", path, params)

    def post(self, path: str, **params: Any) -> dict[str, Any]:
        """POST ``params`` (form-encoded) to ``path``; the JSON answer."""
        return self.request("POST", path, params)

    def request(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one request; raise :class:`ThreadsError` for an error answer or no answer."""
        fields = {name: ("true" if value is True else "false" if value is False else str(value))
                  for name, value in params.items() if value is not None}
        url = f"{self.root}/{path.lstrip('/')}"
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = None
        if method == "GET":
            url += f"?{urllib.parse.urlencode(fields)}" if fields else ""
        else:
            body = urllib.parse.urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        host = urllib.parse.urlsplit(url).netloc
        try:
            answer = http.request(method, url, body=body, headers=headers, timeout=settings.TIMEOUT.value(self.config))
        except http.SendFailed as exc:  # nothing reached Threads
            raise ThreadsError(f"Could not reach {host} ({exc.reason})", kind=NETWORK) from None
        except http.AnswerLost as exc:  # sent: it may have taken effect
            raise ThreadsError(f"The connection to {host} was lost before it answered ({exc.reason})", kind=NETWORK,
                               uncertain=method != "GET") from None
        if answer.status >= 400:
            raise error_from(answer.status, answer.body, answer.headers)
        try:
            parsed = json.loads(answer.body)
        except ValueError:
            raise ThreadsError(f"{host} answered with something that is not JSON", kind=NETWORK,
                               uncertain=method != "GET") from None
        return parsed if isinstance(parsed, dict) else {"data": parsed}


def same_text(first: str | None, second: str | None) -> bool:
    """Whether two texts are the same once whitespace is normalised, as Threads may give them back."""
    return " ".join((first or "").split()) == " ".join((second or "").split())
