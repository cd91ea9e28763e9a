"""What a LinkedIn error answer means for Herald: try again or not, when, and what to tell the user.

LinkedIn's bodies are ``{"message", "serviceErrorCode", "status"}`` (its "Error Handling" guide);
a repeated post is a 422 whose ``errorDetails.inputErrors`` carry ``DUPLICATE_POST`` and whose message
names the post it repeats. Rate limits are daily and come with no headers: a 429 waits
:data:`RATE_LIMIT_WAIT` unless a ``Retry-After`` says otherwise. See docs/platforms/linkedin.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from herald.sdk import PlatformRejected, PlatformUnavailable, PublishOutcome

TOKEN = "token"  # 401: the account must be reconnected
PERMISSION = "permission"  # 403: a scope or the member's role on the Page is missing
RATE_LIMITED = "rate_limited"  # 429
TRANSIENT = "transient"  # 5xx
NETWORK = "network"  # no (complete) answer
DUPLICATE = "duplicate"  # 422 DUPLICATE_POST: the same text is already on the Page
VERSION = "version"  # 426: the LinkedIn-Version asked for is not served (any more)
INVALID = "invalid"  # the request itself

RETRYABLE = frozenset({RATE_LIMITED, TRANSIENT, NETWORK})
RATE_LIMIT_WAIT = 300.0  # seconds: LinkedIn's 429 says neither which limit nor until when
DUPLICATE_OF = re.compile(r"duplicate of (urn:li:[A-Za-z]+:[0-9A-Za-z_-]+)")

HINTS = {
    TOKEN: "Reconnect the LinkedIn Page in Herald.",
    PERMISSION: "Reconnect the Page as one of its administrators and grant every permission Herald asks for.",
    RATE_LIMITED: "LinkedIn's rate limit was reached; Herald will try again later.",
    TRANSIENT: "LinkedIn had a temporary problem; Herald will try again.",
    NETWORK: "Herald will try again.",
    DUPLICATE: "LinkedIn does not take the same text twice from a Page: change the text.",
    VERSION: "Set HERALD_LINKEDIN_VERSION to a LinkedIn API version that is still served (YYYYMM).",
    INVALID: "LinkedIn refused the request: check the post and the account.",
}


class LinkedInError(Exception):
    """A failed call, classified (``kind``). ``uncertain``: the request went out and its answer was
    lost, so it may have taken effect."""

    def __init__(self, message: str, *, kind: str, status: int | None = None, service_code: int | None = None,
                 retry_after: float | None = None, uncertain: bool = False, duplicate_of: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.service_code = service_code
        self.retry_after = retry_after
        self.uncertain = uncertain
        self.duplicate_of = duplicate_of

    @property
    def retryable(self) -> bool:
        """Whether asking again later can succeed."""
        return self.kind in RETRYABLE

    @property
    def detail(self) -> str:
        """LinkedIn's message and status, without the hint."""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{self.message.strip().rstrip('.')}{status}"

    @property
    def reason(self) -> str:
        """What the user reads: LinkedIn's words and a hint."""
        return f"{self.detail}. {HINTS[self.kind]}"

    def __str__(self) -> str:
        return self.reason

    @property
    def account_status(self) -> str:
        """``expired`` or ``invalid``, for a token error."""
        return "expired" if "expired" in self.message.lower() else "invalid"

    def outcome(self) -> PublishOutcome:
        """The publish outcome this error leads to."""
        if self.retryable:
            return PublishOutcome.transient(self.reason, self.retry_after, maybe_live=self.uncertain)
        if self.kind == TOKEN:
            return PublishOutcome.permanent(self.reason, account_status=self.account_status)
        return PublishOutcome.permanent(self.reason)

    def platform_error(self) -> PlatformRejected | PlatformUnavailable:
        """What ``connect``, ``post_comment``, ``fetch_metrics`` … raise for this error."""
        if self.retryable:
            return PlatformUnavailable(self.detail, retry_after=self.retry_after, uncertain=self.uncertain)
        return PlatformRejected(self.reason)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except ValueError:
        return None


def error_from_answer(status: int, body: bytes, headers: Mapping[str, str]) -> LinkedInError:
    """The error an answer of ``status`` >= 400 means."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = None
    data = data if isinstance(data, dict) else {}
    message = str(data.get("message") or data.get("error_description") or data.get("error")
                  or f"LinkedIn answered HTTP {status}")
    code = data.get("serviceErrorCode")
    inputs = ((data.get("errorDetails") or {}).get("inputErrors") or []) if isinstance(data, dict) else []
    if status == 401:
        kind = TOKEN
    elif status == 403:
        kind = PERMISSION
    elif status == 429:
        kind = RATE_LIMITED
    elif status >= 500:
        kind = TRANSIENT
    elif status == 426:
        kind = VERSION
    elif status == 422 and any(item.get("code") == "DUPLICATE_POST" for item in inputs if isinstance(item, dict)):
        kind = DUPLICATE
    else:
        kind = INVALID
    retry_after = (_retry_after(headers) or RATE_LIMIT_WAIT) if kind == RATE_LIMITED else _retry_after(headers)
    found = DUPLICATE_OF.search(message) if kind == DUPLICATE else None
    return LinkedInError(message, kind=kind, status=status, service_code=code if isinstance(code, int) else None,
                         retry_after=retry_after, duplicate_of=found[1] if found else None)


def network_error(host: str, reason: object, *, uncertain: bool) -> LinkedInError:
    """A call that got no answer; ``uncertain`` when it went out and may have taken effect."""
    if uncertain:
        return LinkedInError(f"The connection to {host} was lost before it answered ({reason})", kind=NETWORK,
                             uncertain=True)
    return LinkedInError(f"Could not reach {host} ({reason})", kind=NETWORK)
