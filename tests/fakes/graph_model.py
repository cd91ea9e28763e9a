"""The records a :class:`fakes.graph.FakeGraph` keeps, and the Graph error it answers with.

Shapes and messages follow /work/shared/research/platform-apis.md (§1.2 error envelope, §2 Instagram
containers, §3 Pages, §4 error codes). Where Meta does not document a behaviour the choice is marked
"assumption" so tests that rely on it say so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from typing import Any

# -- errors -----------------------------------------------------------------------------------

RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})

DEFAULT_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    9: "You reached maximum number of posts that is allowed to be published by Content Publishing API.",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    24: "The media builder with creation id does not exist or has been expired.",
    32: "(#32) Page request limit reached",
    100: "(#100) Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    368: "It looks like you were misusing this feature by going too fast. You've been temporarily blocked.",
    506: "(#506) Duplicate status message",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
    80002: "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.",
    9004: "The media could not be fetched from this uri",
    9007: "The media is not ready for publishing, please wait for a moment",
}

# Instagram publishing subcodes carry a user title and message (§4.2).
IG_USER_TITLES = {
    2207010: "Caption too long",
    2207026: "Unsupported video format",
    2207027: "Media not ready",
    2207028: "Carousel size",
    2207042: "Publishing limit reached",
    2207052: "Media download failed",
}


class GraphFault(Exception):
    """Raised inside a route to answer with the Graph error envelope."""

    def __init__(self, code: int, message: str | None = None, *, subcode: int | None = None,
                 status: int | None = None, is_transient: bool | None = None,
                 headers: dict[str, Any] | None = None, error_type: str = "OAuthException",
                 user_title: str | None = None, user_msg: str | None = None):
        super().__init__(message or DEFAULT_MESSAGES.get(code, f"(#{code}) Error"))
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, f"(#{code}) Error")
        self.subcode = subcode
        self.status = status or default_status(code)
        self.is_transient = is_transient if is_transient is not None else (
            code in RATE_LIMIT_CODES or code in (1, 2))
        self.headers = headers or {}
        self.error_type = error_type
        if subcode and 2207000 <= subcode < 2208000 and user_title is None:
            user_title = IG_USER_TITLES.get(subcode, "Media publishing error")
            user_msg = user_msg or self.message
        self.user_title = user_title
        self.user_msg = user_msg

    def body(self) -> dict[str, Any]:
        """The documented ``{"error": {...}}`` envelope."""
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.is_transient
        if self.user_title:
            error["error_user_title"] = self.user_title
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = trace_id()
        return {"error": error}


def default_status(code: int) -> int:
    """HTTP status the fake uses for a code: 500 for 1/2, 403 for rate limits, else 400 (§4.1)."""
    if code in (1, 2):
        return 500
    if code in RATE_LIMIT_CODES:
        return 403
    return 400


def trace_id() -> str:
    """A random ``fbtrace_id``-looking string."""
    return secrets.token_urlsafe(8)


def no_object(object_id: str, method: str) -> GraphFault:
    """Meta's answer for an id that does not exist or that the token may not see (code 100/33)."""
    verb = "get" if method == "GET" else "post"
    return GraphFault(100, f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be "
                           "loaded due to missing permissions, or does not support this operation. Please read "
                           "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                      subcode=33, error_type="GraphMethodException")


def missing_param(name: str) -> GraphFault:
    """Code 100 for a required parameter that was not sent."""
    return GraphFault(100, f"(#100) The parameter {name} is required")


# -- parameters -------------------------------------------------------------------------------

def truthy(value: Any) -> bool:
    """Graph booleans arrive as ``true``/``false`` text or JSON booleans."""
    return value is True or str(value).lower() in {"true", "1"}


def as_list(value: Any) -> list[str]:
    """An array parameter sent as JSON text, a JSON list or a comma-separated string."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    text = str(value).strip()
    if text.startswith("["):
        return [str(item) for item in json.loads(text)]
    return [part.strip() for part in text.split(",") if part.strip()]


def top_fields(value: str | None) -> list[str]:
    """Top-level names of a ``fields`` parameter: ``a,b{c,d},e.summary(true)`` -> a, b, e."""
    if not value:
        return []
    names, depth, current = [], 0, ""
    for char in value:
        if char in "{(":
            depth += 1
        elif char in "})":
            depth -= 1
        if char == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += char
    names.append(current)
    result = []
    for name in names:
        for stop in ".{(":
            name = name.split(stop, 1)[0]
        if name.strip():
            result.append(name.strip())
    return result


# -- time -------------------------------------------------------------------------------------

def graph_time(timestamp: float) -> str:
    """Graph's timestamp format: ``2026-11-23T10:00:00+0000``."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def session_expired_message(expired_at: float, now: float) -> str:
    """The message of a 190/463 error."""
    fmt = "%A, %d-%b-%y %H:%M:%S UTC"
    then = dt.datetime.fromtimestamp(expired_at, dt.UTC).strftime(fmt)
    current = dt.datetime.fromtimestamp(now, dt.UTC).strftime(fmt)
    return f"Error validating access token: Session has expired on {then}. The current time is {current}."


INVALIDATED_MESSAGES = {
    458: "Error validating access token: The user has not authorized application.",
    459: "Error validating access token: You cannot access the app till you log in to www.facebook.com "
         "and follow the instructions given.",
    460: "Error validating access token: The session has been invalidated because the user changed their "
         "password or Facebook has changed the session for security reasons.",
    464: "Error validating access token: Sessions for the user are not allowed because the user is not a "
         "confirmed user.",
    467: "Error validating access token: The session is invalid because the user logged out.",
}


# -- records ----------------------------------------------------------------------------------

@dataclasses.dataclass
class Token:
    """An access token: ``kind`` is ``USER``, ``PAGE`` or ``APP``; ``owner`` the id it acts as."""

    value: str
    kind: str
    owner: str
    expires_at: float | None = None  # None: never (debug_token shows expires_at 0)
    scopes: list[str] = dataclasses.field(default_factory=list)
    invalid_subcode: int | None = None  # set when the session was invalidated (460, 467, …)
    issued_at: float = 0.0
    app_id: str = "1234567890"


@dataclasses.dataclass
class IGUser:
    """An Instagram professional account."""

    id: str
    username: str
    page_id: str | None = None


@dataclasses.dataclass
class Page:
    """A Facebook Page and its Page token."""

    id: str
    name: str
    token: str
    ig_user_id: str | None = None


@dataclasses.dataclass
class FacebookUser:
    """A Facebook user who manages Pages (for ``/me/accounts``)."""

    id: str
    name: str
    pages: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class AuthorizationCode:
    """A code the Login dialog gave a user (:meth:`fakes.graph.FakeGraph.authorize`)."""

    value: str
    user_id: str
    redirect_uri: str
    scopes: list[str]
    expires_at: float
    used: bool = False
    login: str = "facebook"  # or "instagram": a code of Instagram's authorisation window


@dataclasses.dataclass
class ContainerPlan:
    """How the next matching container behaves: IN_PROGRESS for ``polls`` status reads, then ``end``."""

    polls: int | None
    end: str
    subcode: int | None
    kind: str | None
    times: int


@dataclasses.dataclass
class Container:
    """An Instagram media container (§2.3 state machine)."""

    id: str
    owner: str
    kind: str  # IMAGE, VIDEO (carousel video item), REELS, STORIES, CAROUSEL
    params: dict[str, Any]
    created_at: float
    polls_left: int
    end: str = "FINISHED"  # FINISHED, ERROR, EXPIRED or IN_PROGRESS (forever)
    subcode: int | None = None
    children: list[str] = dataclasses.field(default_factory=list)
    is_carousel_item: bool = False
    forced: str | None = None  # a status set by the test
    media_id: str | None = None
    polls: int = 0


@dataclasses.dataclass
class Media:
    """A published Instagram media object."""

    id: str
    owner: str
    caption: str
    media_type: str
    media_product_type: str
    timestamp: float
    permalink: str
    container_id: str
    like_count: int = 0
    comments_count: int = 0
    insights: dict[str, int] = dataclasses.field(default_factory=dict)
    too_few_viewers: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The record as tests see it."""
        data = dataclasses.asdict(self)
        data["timestamp"] = graph_time(self.timestamp)
        return data


@dataclasses.dataclass
class PagePost:
    """A post on a Page's timeline (status, photo, album or video)."""

    id: str
    page_id: str
    message: str
    created_time: float
    kind: str  # status, photo, album, video
    published: bool = True
    scheduled_publish_time: float | None = None
    object_id: str | None = None  # the photo or video behind the post
    attached: list[str] = dataclasses.field(default_factory=list)
    link: str | None = None
    reactions: int = 0
    comments: int = 0
    shares: int = 0
    insights: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def permalink_url(self) -> str:
        """Where the post is seen on facebook.com."""
        return f"https://www.facebook.com/{self.page_id}/posts/{self.id.split('_', 1)[-1]}"

    def as_dict(self) -> dict[str, Any]:
        """The record as tests see it."""
        data = dataclasses.asdict(self)
        data["created_time"] = graph_time(self.created_time)
        data["permalink_url"] = self.permalink_url
        return data


@dataclasses.dataclass
class Photo:
    """A photo uploaded to a Page (published or not)."""

    id: str
    page_id: str
    url: str
    caption: str
    published: bool
    post_id: str | None = None


@dataclasses.dataclass
class Video:
    """A video uploaded to a Page from ``file_url``."""

    id: str
    page_id: str
    file_url: str
    description: str
    title: str
    published: bool
    post_id: str | None = None


@dataclasses.dataclass
class Rule:
    """A fault to inject for requests whose path matches ``pattern``."""

    pattern: Any  # re.Pattern
    method: str | None
    action: str  # fail, delay, drop, hang_up
    times: int | None
    fault: GraphFault | None = None
    seconds: float = 0.0
    applied: bool = False  # fail only: do the work before answering the error
    param: str | None = None  # only requests carrying this parameter (``after``: a list's later pages)

    def matches(self, method: str, path: str, params: dict[str, Any] | None = None) -> bool:
        """Whether this rule applies to a request."""
        return ((self.method is None or self.method == method) and bool(self.pattern.search(path))
                and (self.param is None or self.param in (params or {})))


@dataclasses.dataclass
class FakeRequest:
    """One request the fake received: ``path`` has no version prefix; ``params`` merges query,
    form and JSON body; ``status`` is the HTTP status answered (None when the connection was dropped)."""

    method: str
    path: str
    version: str | None
    params: dict[str, Any]
    headers: dict[str, str]
    token: str | None
    status: int | None = None
