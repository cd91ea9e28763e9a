"""What a Graph API error means for Herald: retry or not, how long to wait, what to tell the user.

Graph errors are classified by ``code``, ``error_subcode`` and ``is_transient``, not by HTTP status
(Meta reports the same code with 400 and 403). Every reason a user sees is Meta's own message
plus a short plain-language hint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from herald.sdk import PlatformRejected, PlatformUnavailable, PublishOutcome

# Kinds of error.
TRANSIENT = "transient"  # retry with backoff (codes 1, 2, is_transient, 5xx)
NETWORK = "network"  # no answer: the host could not be reached or the connection was lost
RATE_LIMITED = "rate_limited"  # wait (X-Business-Use-Case-Usage / X-App-Usage say how long)
QUOTA = "quota"  # Instagram's daily publishing quota (9/2207042)
NOT_READY = "not_ready"  # the container is still processing: poll again, same container
RECREATE = "recreate"  # the container is unusable: make a new one
TOKEN = "token"  # 190/102: the account must be reconnected
PERMISSION = "permission"  # 10, 200-299: a permission is missing
BLOCKED = "blocked"  # a spam/policy block or a restricted account: do not hot-retry
INVALID = "invalid"  # the request itself is wrong: retrying cannot help

RETRYABLE = frozenset({TRANSIENT, NETWORK, RATE_LIMITED, QUOTA, NOT_READY, RECREATE})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
RATE_LIMIT_WAIT = 600.0  # seconds, when no usage header says how long
QUOTA_WAIT = 3600.0
NOT_READY_WAIT = 30.0

SUBCODE_KINDS = {
    2207001: TRANSIENT,
    2207003: RECREATE, 2207006: RECREATE, 2207008: RECREATE, 2207020: RECREATE, 2207032: RECREATE,
    2207053: RECREATE,
    2207027: NOT_READY,
    2207042: QUOTA,
    2207050: BLOCKED, 2207051: BLOCKED,
    2207004: INVALID, 2207005: INVALID, 2207009: INVALID, 2207010: INVALID, 2207023: INVALID,
    2207026: INVALID, 2207028: INVALID, 2207035: INVALID, 2207036: INVALID, 2207037: INVALID,
    2207040: INVALID, 2207052: INVALID, 2207057: INVALID,
}

TOKEN_HINTS = {
    458: "The account removed Herald's app: reconnect the account in Herald.",
    459: "Facebook wants the user to log in on facebook.com first (a security checkpoint); then reconnect "
         "the account in Herald.",
    460: "The account's password changed, which ended the session: reconnect the account in Herald.",
    463: "The access token has expired: reconnect the account in Herald.",
    464: "The Facebook user is not confirmed yet: confirm it on facebook.com, then reconnect the account in Herald.",
    467: "The access token is no longer valid: reconnect the account in Herald.",
    492: "The user no longer has a role on the Page: reconnect the account as a Page admin.",
}
TOKEN_HINT = "The access token is not valid: reconnect the account in Herald."
PERMISSION_HINT = ("Herald lacks a permission for this account: reconnect it and grant every permission Herald "
                   "asks for (pages_manage_posts for a Page, instagram_content_publish for Instagram).")

SUBCODE_HINTS = {
    2207001: "Instagram had a server error; Herald will try again.",
    2207003: "Instagram took too long to download the media; Herald will upload it again.",
    2207004: "The image is too large: Instagram takes images up to 8 MB.",
    2207005: "Instagram takes JPEG images only: convert the image and try again.",
    2207006: "Instagram could not find the uploaded media; Herald will upload it again.",
    2207008: "The media container no longer exists; Herald will create a new one.",
    2207009: "The image's aspect ratio must be between 4:5 and 1.91:1: crop it and try again.",
    2207010: "Shorten the caption: at most 2,200 characters, 30 hashtags and 20 @-mentions.",
    2207020: "The uploaded media expired; Herald will upload it again.",
    2207023: "Instagram does not know this media type.",
    2207026: "Instagram cannot read this video: use MP4 or MOV (H.264 video, AAC audio).",
    2207027: "Instagram is still processing the media; Herald will try again shortly.",
    2207028: "A carousel needs 2 to 10 photos or videos.",
    2207032: "Instagram could not prepare the media; Herald will upload it again.",
    2207040: "Use at most 20 @-mentions in the caption.",
    2207042: "The account reached Instagram's limit of posts published through the API in 24 hours; "
             "Herald will try again when it frees up.",
    2207050: "The Instagram account is restricted: open the Instagram app to resolve it.",
    2207051: "Instagram restricted this activity to protect its community (a spam block): wait before "
             "posting again.",
    2207052: "Instagram could not download the media from Herald: check that HERALD_PUBLIC_URL is reachable "
             "from the internet.",
    2207053: "Instagram could not upload the video; Herald will upload it again.",
    2207057: "The video thumbnail offset must be within the video.",
}
CODE_HINTS = {
    3: "The Meta app lacks the capability for this call: check the app's setup in Meta's developer dashboard.",
    100: "Meta rejected a parameter of the request: check the post's caption and media.",
    368: "Meta temporarily blocked this account from posting for a policy reason: wait before posting again.",
    506: "Facebook does not publish the same text twice in a row: change the caption.",
    1609005: "Facebook could not read the link in the post: check that the link works.",
}
KIND_HINTS = {
    TRANSIENT: "Meta had a temporary problem; Herald will try again.",
    NETWORK: "Herald will try again.",
    NOT_READY: "Instagram is still processing the media; Herald will try again shortly.",
    RECREATE: "Herald will upload the media again.",
    QUOTA: SUBCODE_HINTS[2207042],
    BLOCKED: "Meta is blocking this activity for now: wait before posting again.",
    INVALID: "Meta refused the request: check the post and the account.",
}


class GraphError(Exception):
    """A failed Graph API call, classified: ``kind`` is one of this module's kinds.

    ``message`` is Meta's own text; ``reason`` adds the code and a plain-language hint.
    ``uncertain`` is true when a request was sent but its answer was lost, so it may have
    taken effect (never repeat a publish blindly after one).
    """

    def __init__(self, message: str, *, kind: str, code: int | None = None, subcode: int | None = None,
                 status: int | None = None, hint: str | None = None, retry_after: float | None = None,
                 fbtrace_id: str | None = None, uncertain: bool = False):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code
        self.subcode = subcode
        self.status = status
        self.hint = hint or hint_for(kind, code, subcode, retry_after)
        self.retry_after = retry_after
        self.fbtrace_id = fbtrace_id
        self.uncertain = uncertain

    @property
    def retryable(self) -> bool:
        """Whether trying again (later, or with a new container) can succeed."""
        return self.kind in RETRYABLE

    @property
    def detail(self) -> str:
        """Meta's message and the error code, without the hint."""
        codes = ""
        if self.code is not None:
            codes = f" (Graph API error {self.code}" + (f"/{self.subcode}" if self.subcode else "") + ")"
        return f"{self.message.strip().rstrip('.')}{codes}"

    @property
    def reason(self) -> str:
        """Meta's message, the error code and the hint: what a user reads."""
        return f"{self.detail}. {self.hint}"

    def __str__(self) -> str:
        return self.reason

    def outcome(self) -> PublishOutcome:
        """The publish outcome this error leads to."""
        if self.retryable:
            return PublishOutcome.transient(self.reason, self.retry_after)
        if self.kind == TOKEN:  # the account's token, not this post: the core marks the account
            return PublishOutcome.permanent(self.reason, account_status="expired" if self.subcode == 463 else "invalid")
        return PublishOutcome.permanent(self.reason)

    def platform_error(self) -> PlatformRejected | PlatformUnavailable:
        """The exception ``connect``/``token_health``/``fetch_metrics`` raise for this error.

        An unavailable platform carries no hint: whether Herald tries again (a job) or the client
        must (connecting an account, asked now) is for the core to say.
        """
        if self.retryable:
            return PlatformUnavailable(self.detail, retry_after=self.retry_after, uncertain=self.uncertain)
        return PlatformRejected(self.reason)


def classify(code: int | None, subcode: int | None, *, is_transient: bool = False, status: int = 400) -> str:
    """The kind of a Graph error (research §4.1, §4.2, §4.4)."""
    if code in (190, 102):
        return TOKEN
    if subcode in SUBCODE_KINDS:
        return SUBCODE_KINDS[subcode]
    if code == 9007:
        return NOT_READY
    if code == 368:
        return BLOCKED
    if code in RATE_LIMIT_CODES:
        return RATE_LIMITED
    if code == 10 or (code is not None and 200 <= code <= 299):
        return PERMISSION
    if code in (1, 2) or is_transient or status >= 500:
        return TRANSIENT
    return INVALID


def hint_for(kind: str, code: int | None, subcode: int | None, retry_after: float | None = None) -> str:
    """A short plain-language hint for an error."""
    if kind == TOKEN:
        return TOKEN_HINTS.get(subcode, TOKEN_HINT)
    if kind == PERMISSION:
        return PERMISSION_HINT
    if kind == RATE_LIMITED:
        minutes = max(1, round((retry_after or RATE_LIMIT_WAIT) / 60))
        return f"Meta's rate limit was reached; Herald waits about {minutes} minute{'s' * (minutes != 1)} " \
               "before trying again."
    if subcode in SUBCODE_HINTS:
        return SUBCODE_HINTS[subcode]
    if code in CODE_HINTS and kind not in (TRANSIENT, NETWORK):
        return CODE_HINTS[code]
    return KIND_HINTS.get(kind, KIND_HINTS[INVALID])


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:  # a plain dict: look the name up case-insensitively
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def usage_wait(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``estimated_time_to_regain_access`` (minutes) in the usage headers."""
    minutes: list[float] = []
    for name in ("X-Business-Use-Case-Usage", "X-App-Usage", "X-Page-Usage"):
        raw = _header(headers, name)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        entries: list[Any] = [usage]
        if isinstance(usage, dict):  # BUC: {"<object id>": [{...}, ...]}
            entries += [item for value in usage.values() if isinstance(value, list) for item in value]
        for entry in entries:
            value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
            if isinstance(value, int | float) and value > 0:
                minutes.append(float(value))
    return max(minutes) * 60 if minutes else None


def error_from_response(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> GraphError:
    """Turn an HTTP error answer of the Graph API into a :class:`GraphError`."""
    try:
        error = json.loads(body or b"{}").get("error")
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        kind = TRANSIENT if status >= 500 or status == 429 else INVALID
        text = body[:200].decode(errors="replace").strip() if body else ""
        message = f"The Graph API answered HTTP {status}" + (f": {text}" if text else " without an error message")
        return GraphError(message, kind=kind, status=status)
    code = error.get("code")
    subcode = error.get("error_subcode")
    kind = classify(code, subcode, is_transient=bool(error.get("is_transient")), status=status)
    retry_after = None
    if kind == RATE_LIMITED:
        retry_after = usage_wait(headers) or RATE_LIMIT_WAIT
    elif kind == QUOTA:
        retry_after = QUOTA_WAIT
    elif kind == NOT_READY:
        retry_after = NOT_READY_WAIT
    message = error.get("message") or f"The Graph API answered HTTP {status} with error code {code}"
    user_msg = error.get("error_user_msg")
    if user_msg and user_msg.strip() not in message:
        message = f"{message.rstrip('.')}. {user_msg.strip()}"
    return GraphError(message, kind=kind, code=code, subcode=subcode, status=status, retry_after=retry_after,
                      fbtrace_id=error.get("fbtrace_id"))


def network_error(host: str, exc: BaseException, *, uncertain: bool) -> GraphError:
    """A request that got no answer: ``uncertain`` when it was sent and may have taken effect."""
    detail = getattr(exc, "reason", None) or exc or type(exc).__name__
    if uncertain:
        message = f"The connection to {host} was lost before it answered ({detail})"
        hint = "The request may have gone through; Herald checks before trying again."
    else:
        message = f"Could not reach {host} ({detail})"
        hint = KIND_HINTS[NETWORK]
    return GraphError(message, kind=NETWORK, hint=hint, uncertain=uncertain)
