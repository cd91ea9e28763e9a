"""Talking to a Mastodon server: the plugin's settings, one call of the API, and what its errors mean.

Every server is one a user named, so each call checks its address first (``http.check_url``) and
sends through Herald's one HTTP client. Mastodon's errors are ``{"error": "..."}`` bodies; a 429 says
when the limit resets in ``X-RateLimit-Reset`` (https://docs.joinmastodon.org/api/rate-limits/).
"""

import datetime as dt
import json

from herald.sdk import PlatformRejected, PlatformUnavailable, Setting, http


def yes_no(text):
    """``1``/``true``/``yes`` or ``0``/``false``/``no``, as a bool."""
    if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
        raise ValueError("say yes or no")
    return text.lower() in ("1", "true", "yes")


TIMEOUT = Setting("HERALD_MASTODON_TIMEOUT", 30.0, "Seconds one call to a Mastodon server may take.", parse=float)
ALLOW_PRIVATE = Setting("HERALD_MASTODON_ALLOW_PRIVATE", False,
                        "Let accounts live on servers at private or loopback addresses (tests, an intranet).",
                        parse=yes_no)

POOL = http.ConnectionPool()  # keep-alive connections to the servers, shared by every call


def call(method, server, path, token, config, *, form=None, key=None, body=None, content_type=None):
    """One call of the Mastodon API on ``server`` (an address a user gave, so checked first): the
    answer's status, headers and JSON body. Raises what :mod:`herald.sdk.http` raises."""
    target = http.check_url(server + path, allow_private=ALLOW_PRIVATE.value(config))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if key:  # Mastodon keeps a status's Idempotency-Key for an hour: the same key never posts twice
        headers["Idempotency-Key"] = key
    if form is not None:
        body = json.dumps(form).encode()
        content_type = "application/json"
    if content_type:
        headers["Content-Type"] = content_type
    answer = http.send(method, target, body, headers, timeout=TIMEOUT.value(config), read_limit=2_000_000,
                       pool=POOL)
    try:
        data = json.loads(answer.body or b"null")
    except ValueError:
        data = None
    return answer.status, answer.headers, data


def error_of(status, data):
    """Mastodon's own words for a refusal (its bodies are ``{"error": "..."}``)."""
    said = data.get("error") if isinstance(data, dict) else None
    return f"Mastodon answered {status}: {said or 'no reason given'}"


def seconds_until(reset):
    """Seconds until an ``X-RateLimit-Reset`` time (ISO 8601, the server's clock), or None."""
    try:
        return max(0.0, (dt.datetime.fromisoformat(reset) - dt.datetime.now(dt.UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def unavailable(status, headers, data):
    """The exception for an answer worth asking again later (429, 5xx)."""
    return PlatformUnavailable(error_of(status, data), retry_after=seconds_until(headers.get("x-ratelimit-reset")))


def read(account, path, config):
    """GET ``path`` on the account's server: the JSON body, or the exception its failure means."""
    try:
        status, headers, data = call("GET", account.settings["server"], path, account.token, config)
    except (http.SendFailed, http.AnswerLost, http.BlockedURL, http.Unresolvable) as exc:
        raise PlatformUnavailable(f"Could not reach {account.settings['server']}: {exc}") from None
    if status == 200:
        return data
    if status == 429 or status >= 500:
        raise unavailable(status, headers, data)
    raise PlatformRejected(error_of(status, data))
