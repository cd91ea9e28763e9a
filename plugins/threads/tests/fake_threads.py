"""A small Threads API on loopback, written from docs/platforms/threads.md (Meta's Threads API
reference, "Threads Posts", troubleshooting, replies, insights and token guides; the Graph error
envelope), not from the plugin.

It keeps profiles (by token), media containers, published posts and replies, and answers:

- ``POST /v1.0/{user}/threads`` (``media_type`` TEXT/IMAGE/VIDEO/CAROUSEL, ``text``, ``image_url``,
  ``video_url``, ``is_carousel_item``, ``children``, ``reply_to_id``, ``reply_control``), parameters
  from the query string or a form body;
- ``GET /v1.0/{container}?fields=status,error_message`` (IN_PROGRESS for the polls a test asks, then
  FINISHED; ERROR with an ``error_message``; EXPIRED 24 hours after creation; PUBLISHED once published);
- ``POST /v1.0/{user}/threads_publish`` (``creation_id``; a container publishes once: again is
  ``24/4279009``), ``GET /v1.0/{user}/threads`` (newest first, ``since``/``until``, ``limit``, cursors),
  ``GET /v1.0/{media}`` (``permalink`` ...), ``GET /v1.0/{media}/replies``, ``GET /v1.0/{media}/insights``,
  ``GET /v1.0/{user}/threads_publishing_limit``, ``GET /v1.0/me``;
- the OAuth exchanges: ``POST /oauth/access_token``, ``GET /access_token?grant_type=th_exchange_token``,
  ``GET /refresh_access_token?grant_type=th_refresh_token``, and ``GET /oauth/authorize`` (the window:
  it consents at once and redirects with a code).

Faults a test injects (besides :class:`herald.testing.FakeAPI`'s ``fail_next``/``drop_next_answer``):
:meth:`rate_limit` (code 4 with ``X-Business-Use-Case-Usage`` and ``Retry-After``), :meth:`server_error`
(code 2, ``is_transient``), :meth:`drop_after_publish` (the post is made, the answer never arrives),
:meth:`expire_token` (190/463 on every call), :meth:`next_container` (polls, ERROR), :meth:`not_found_on_publish`
(24/4279009 while Threads "does not know" a new container).

For a test outside this folder (the lead's all-platforms test): ``with FakeThreads() as fake:``, then
Herald made with ``**fake.hosts()`` (``threads_base_url``, ...), :data:`CONNECT` is the body of
``POST /v1/accounts`` that connects the profile ``alice`` (:data:`ALICE_TOKEN`), and
:meth:`FakeThreads.published` / :meth:`FakeThreads.replies_of` list what was posted.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import unicodedata
import urllib.parse
from collections.abc import Callable
from typing import Any

from herald.testing import Call, FakeAPI, route

ALICE_TOKEN = "THQVJalice0long0lived0token"
ALICE = {"id": "25000000000000001", "username": "alice", "name": "Alice Baker"}
BOB_TOKEN = "THQVJbob0token"
BOB = {"id": "25000000000000002", "username": "bob", "name": "Bob"}
APP_ID, APP_SECRET = "990602627938098", "threads-app-secret"
# The body of POST /v1/accounts that connects alice (Herald's HERALD_THREADS_BASE_URL on the fake).
CONNECT = {"platform": "threads", "access_token": ALICE_TOKEN}
LONG_LIVED_SECONDS = 5183944  # the sample answer's expires_in (about 60 days)
QUOTA_TOTAL, REPLY_QUOTA_TOTAL = 250, 1000
VERSION = r"/v\d+\.\d+"


def error(message: str, code: int, *, subcode: int | None = None, transient: bool = False,
          kind: str = "OAuthException", user_title: str | None = None, user_msg: str | None = None) -> dict:
    """The Graph error envelope Threads answers with."""
    body: dict[str, Any] = {"message": message, "type": kind, "code": code, "is_transient": transient,
                            "fbtrace_id": "AbCdEfThreads01"}
    if subcode is not None:
        body["error_subcode"] = subcode
    if user_title:
        body["error_user_title"] = user_title
    if user_msg:
        body["error_user_msg"] = user_msg
    return {"error": body}


def counted(text: str) -> int:
    """The text's length as Threads counts it: emojis count their UTF-8 bytes."""
    return sum(len(char.encode()) if ord(char) > 0xFFFF or unicodedata.category(char) == "So" else 1
               for char in text)


def stamp(moment: dt.datetime) -> str:
    """A Threads timestamp: ``2023-10-17T05:42:03+0000``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


class FakeThreads(FakeAPI):
    """Threads' API with one app; ``clock`` (a callable answering naive-UTC or aware datetimes, such as a
    test's ``herald_clock.now``) is its time, else the system's plus :meth:`advance`."""

    def __init__(self, clock: Callable[[], dt.datetime] | None = None):
        super().__init__()
        self.clock = clock
        self.offset = dt.timedelta()
        self.profiles = {ALICE_TOKEN: dict(ALICE), BOB_TOKEN: dict(BOB)}
        self.expired: set[str] = set()
        self.containers: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, str] = {}  # authorisation code -> the token it gives
        self.refreshed: list[str] = []
        self._ids = itertools.count(18000000000000001)
        self._next_container: list[dict[str, Any]] = []
        self._not_found_on_publish = 0
        self.quota_extra: dict[str, int] = {}
        self._drop_reply_publish = 0

    # -- time and helpers for tests ------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The fake's time, aware (UTC)."""
        if self.clock is not None:
            moment = self.clock()
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, seconds: float) -> None:
        """Move the fake's own time (without a ``clock``) ``seconds`` forward (``time_passes`` of the crash test)."""
        self.offset += dt.timedelta(seconds=seconds)

    def hosts(self) -> dict[str, str]:
        """The plugin's settings pointing at this fake (``herald_app_factory(**fake.hosts())``)."""
        return {"threads_base_url": self.url, "threads_dialog_url": f"{self.url}/oauth/authorize"}

    def published(self, user_id: str = ALICE["id"]) -> list[dict[str, Any]]:
        """The top-level posts ``user_id`` published, oldest first."""
        return [post for post in self.posts.values() if post["owner"] == user_id and not post["reply_to"]]

    def replies_of(self, post_id: str) -> list[dict[str, Any]]:
        """The replies under ``post_id``, oldest first."""
        return [post for post in self.posts.values() if post["reply_to"] == post_id]

    def add_reply(self, post_id: str, text: str, username: str = "carol") -> dict[str, Any]:
        """Someone else's reply under ``post_id`` (as followers write them)."""
        return self._make_post({"id": "25000000000000099", "username": username}, "TEXT_POST", text, post_id)

    def set_insights(self, post_id: str, **values: int) -> None:
        """The post's metrics (``views``, ``likes``, ``replies``, ``reposts``, ``quotes``)."""
        self.posts[post_id]["insights"].update(values)

    def set_quota_usage(self, user_id: str, used: int) -> None:
        """Pretend ``user_id`` published ``used`` posts in the last 24 hours."""
        self.quota_extra[user_id] = used

    # -- faults ---------------------------------------------------------------------------------

    def rate_limit(self, *, times: int = 1, minutes: int = 5, status: int = 429, path: str | None = None) -> None:
        """The next ``times`` calls answer code 4 with the usage header (and ``Retry-After``)."""
        usage = {ALICE["id"]: [{"type": "threads", "call_count": 100, "total_cputime": 40, "total_time": 60,
                                "estimated_time_to_regain_access": minutes}]}
        self.fail_next(status, error("(#4) Application request limit reached", 4, transient=True),
                       headers={"X-Business-Use-Case-Usage": json.dumps(usage), "Retry-After": str(minutes * 60)},
                       path=path, times=times)

    def server_error(self, *, times: int = 1, path: str | None = None) -> None:
        """The next ``times`` calls answer 500 with code 2 (a temporary problem; nothing happened)."""
        self.fail_next(500, error("An unexpected error has occurred. Please retry your request later.", 2,
                                  transient=True), path=path, times=times)

    def drop_after_publish(self) -> None:
        """The next ``threads_publish`` publishes, then the connection closes without an answer."""
        self.drop_next_answer(r".*/threads_publish")

    def drop_after_reply(self, times: int = 1) -> None:
        """The next ``times`` replies are published, then their connections close without an answer."""
        self._drop_reply_publish += times

    def expire_token(self, token: str = ALICE_TOKEN) -> None:
        """Every call with ``token`` answers 190/463 from now on."""
        self.expired.add(token)

    def next_container(self, *, polls: int = 0, end: str = "FINISHED", error_message: str | None = None,
                       times: int = 1) -> None:
        """The next ``times`` containers stay IN_PROGRESS for ``polls`` status reads, then reach ``end``."""
        for _ in range(times):
            self._next_container.append({"polls": polls, "end": end, "error_message": error_message})

    def not_found_on_publish(self, times: int = 1) -> None:
        """The next ``times`` publish requests answer 24/4279009 "Media Not Found" (nothing is published)."""
        self._not_found_on_publish += times

    # -- plumbing -------------------------------------------------------------------------------

    def calls_to(self, method: str, path: str) -> list[Call]:
        """The calls of ``method`` whose path matches ``path`` (whole path), in order."""
        pattern = re.compile(path)
        return [call for call in list(self.calls) if call.method == method and pattern.fullmatch(call.path)]

    def handle(self, call: Call):
        """FakeAPI's handling, plus :meth:`drop_after_reply`."""
        answer, drop = super().handle(call)
        if self._drop_reply_publish and call.path.endswith("/threads_publish") and answer[0] == 200 \
                and self.posts[answer[1]["id"]]["reply_to"]:
            self._drop_reply_publish -= 1
            drop = True
        return answer, drop

    def not_found(self, call: Call):
        """Threads' answer for an unknown path: the Graph error for an unknown node or edge."""
        return 400, error(f"Unsupported {call.method.lower()} request.", 100, subcode=33, kind="THApiException")

    def _params(self, call: Call) -> dict[str, str]:
        params = dict(call.query)
        if call.body and "json" not in (call.header("Content-Type") or ""):
            params.update(call.form)
        return params

    def _user(self, call: Call):
        """The profile of the call's token (header or ``access_token``), or the error answer."""
        token = (call.header("Authorization") or "").removeprefix("Bearer ").strip() \
            or self._params(call).get("access_token", "")
        if token in self.expired:
            return None, (400, error("Error validating access token: Session has expired on Monday, 07-Dec-26. "
                                     "The current time is later.", 190, subcode=463))
        profile = self.profiles.get(token)
        if profile is None:
            return None, (400, error("Invalid OAuth access token - Cannot parse access token", 190))
        return profile, None

    def _make_post(self, owner: dict, media_type: str, text: str | None, reply_to: str | None,
                   container: dict | None = None) -> dict[str, Any]:
        post_id = str(next(self._ids))
        post = {"id": post_id, "owner": owner["id"], "username": owner["username"], "media_type": media_type,
                "text": text, "reply_to": reply_to, "timestamp": self.now(), "container": container and container["id"],
                "children": container.get("children") if container else None,
                "media_url": container.get("url") if container else None,
                "permalink": f"https://www.threads.net/@{owner['username']}/post/C{post_id[-8:]}",
                "insights": {"views": 0, "likes": 0, "replies": 0, "reposts": 0, "quotes": 0}}
        self.posts[post_id] = post
        if reply_to in self.posts:
            self.posts[reply_to]["insights"]["replies"] += 1
        return post

    def _status(self, container: dict[str, Any]) -> str:
        if container["status"] in ("PUBLISHED", "ERROR"):
            return container["status"]
        if self.now() - container["created"] > dt.timedelta(hours=24):
            return "EXPIRED"
        return container["status"]

    # -- publishing -----------------------------------------------------------------------------

    @route("POST", VERSION + r"/(?P<user_id>[^/]+)/threads")
    def create_container(self, call: Call, user_id: str):
        """``POST /{threads-user-id}/threads``: a media container."""
        profile, refused = self._user(call)
        if refused:
            return refused
        if user_id not in (profile["id"], "me"):
            return 400, error("Unsupported post request. Object does not exist or cannot be loaded due to missing "
                              "permissions", 100, subcode=33, kind="THApiException")
        params = self._params(call)
        media_type, text = params.get("media_type"), params.get("text")
        if media_type not in ("TEXT", "IMAGE", "VIDEO", "CAROUSEL"):
            return 400, error("(#100) The parameter media_type is required and must be one of TEXT, IMAGE, VIDEO, "
                              "CAROUSEL", 100)
        if media_type == "TEXT" and not text:
            return 400, error("(#100) The parameter text is required for a text post", 100)
        if text and counted(text) > 500:
            return 400, error("(#100) Param text must be at most 500 characters long.", 100, subcode=4279010)
        url = params.get("image_url") if media_type == "IMAGE" else params.get("video_url")
        if media_type in ("IMAGE", "VIDEO") and not url:
            return 400, error(f"(#100) The parameter {media_type.lower()}_url is required", 100)
        children = None
        if media_type == "CAROUSEL":
            children = [item for item in (params.get("children") or "").split(",") if item]
            if not 2 <= len(children) <= 20 or any(
                    self.containers.get(child, {}).get("owner") != profile["id"]
                    or not self.containers[child]["carousel_item"] for child in children):
                return 400, error("(#100) A carousel needs 2 to 20 carousel items of this profile", 100)
        reply_to = params.get("reply_to_id")
        if reply_to and reply_to not in self.posts:
            return 400, error("(#100) Param reply_to_id must be a valid Threads media id", 100)
        plan = self._next_container.pop(0) if self._next_container else {"polls": 0, "end": "FINISHED",
                                                                         "error_message": None}
        container_id = str(next(self._ids))
        self.containers[container_id] = {
            "id": container_id, "owner": profile["id"], "media_type": media_type, "text": text, "url": url,
            "children": children, "carousel_item": params.get("is_carousel_item") == "true", "reply_to": reply_to,
            "reply_control": params.get("reply_control"), "created": self.now(), "polls_left": plan["polls"],
            "end": plan["end"], "error_message": plan["error_message"],
            "status": "IN_PROGRESS" if plan["polls"] else plan["end"], "params": params}
        return 200, {"id": container_id}

    @route("POST", VERSION + r"/(?P<user_id>[^/]+)/threads_publish")
    def publish_container(self, call: Call, user_id: str):
        """``POST /{threads-user-id}/threads_publish``: the container becomes a post, once."""
        profile, refused = self._user(call)
        if refused:
            return refused
        container = self.containers.get(self._params(call).get("creation_id", ""))
        not_found = error("The requested resource does not exist", 24, subcode=4279009, user_title="Media Not Found",
                          user_msg=f"The media with id {self._params(call).get('creation_id')} cannot be found.")
        if self._not_found_on_publish and container is not None and container["status"] != "PUBLISHED":
            self._not_found_on_publish -= 1
            return 400, not_found
        if container is None or container["owner"] != profile["id"] or container["status"] == "PUBLISHED" \
                or container["carousel_item"]:
            return 400, not_found
        status = self._status(container)
        if status != "FINISHED":
            return 400, error("(#100) The media is not ready to be published", 100, subcode=4279009 if status ==
                              "IN_PROGRESS" else None, user_title="Media Not Ready")
        used = sum(1 for post in self.published(profile["id"])
                   if self.now() - post["timestamp"] < dt.timedelta(hours=24)) + self.quota_extra.get(profile["id"], 0)
        if not container["reply_to"] and used >= QUOTA_TOTAL:
            return 400, error("(#9) Application request limit reached: the profile published its quota of posts",
                              9, subcode=2207042)
        kind = {"TEXT": "TEXT_POST", "IMAGE": "IMAGE", "VIDEO": "VIDEO", "CAROUSEL": "CAROUSEL_ALBUM"}
        post = self._make_post(profile, kind[container["media_type"]], container["text"], container["reply_to"],
                               container)
        container["status"] = "PUBLISHED"
        return 200, {"id": post["id"]}

    @route("GET", VERSION + r"/(?P<user_id>[^/]+)/threads_publishing_limit")
    def publishing_limit(self, call: Call, user_id: str):
        """``GET /{threads-user-id}/threads_publishing_limit``."""
        profile, refused = self._user(call)
        if refused:
            return refused
        recent = [post for post in self.posts.values() if post["owner"] == profile["id"]
                  and self.now() - post["timestamp"] < dt.timedelta(hours=24)]
        used = sum(1 for post in recent if not post["reply_to"]) + self.quota_extra.get(profile["id"], 0)
        return 200, {"data": [{"quota_usage": used, "config": {"quota_total": QUOTA_TOTAL, "quota_duration": 86400},
                               "reply_quota_usage": sum(1 for post in recent if post["reply_to"]),
                               "reply_config": {"quota_total": REPLY_QUOTA_TOTAL, "quota_duration": 86400}}]}

    @route("GET", VERSION + r"/(?P<user_id>[^/]+)/threads")
    def list_threads(self, call: Call, user_id: str):
        """``GET /{threads-user-id}/threads``: the profile's posts, newest first, paged by cursor."""
        profile, refused = self._user(call)
        if refused:
            return refused
        params = self._params(call)
        items = sorted((post for post in self.posts.values() if post["owner"] == profile["id"]),
                       key=lambda post: (post["timestamp"], post["id"]), reverse=True)
        if params.get("since"):
            items = [post for post in items if post["timestamp"].timestamp() >= int(params["since"])]
        if params.get("until"):
            items = [post for post in items if post["timestamp"].timestamp() <= int(params["until"])]
        return 200, self._page(items, params, self._public)

    def _page(self, items: list[dict], params: dict[str, str], shape: Callable[[dict, list[str]], dict]) -> dict:
        limit = min(int(params.get("limit") or 25), 100)
        start = int(params.get("after") or 0)
        fields = (params.get("fields") or "id").split(",")
        page = items[start:start + limit]
        answer: dict[str, Any] = {"data": [shape(post, fields) for post in page]}
        if page:
            answer["paging"] = {"cursors": {"before": str(start), "after": str(start + len(page))}}
            if start + len(page) < len(items):
                query = dict(params, after=str(start + len(page)))
                answer["paging"]["next"] = f"{self.url}/v1.0/next?{urllib.parse.urlencode(query)}"
        return answer

    def _public(self, post: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        shown = {"id": post["id"], "media_product_type": "THREADS", "media_type": post["media_type"],
                 "permalink": post["permalink"], "username": post["username"], "text": post["text"],
                 "timestamp": stamp(post["timestamp"]), "shortcode": post["permalink"].rsplit("/", 1)[1],
                 "is_quote_post": False, "owner": {"id": post["owner"]}, "media_url": post["media_url"],
                 "is_reply": bool(post["reply_to"]), "replied_to": post["reply_to"] and {"id": post["reply_to"]},
                 "root_post": post["reply_to"] and {"id": post["reply_to"]}}
        return {name: shown[name] for name in fields if shown.get(name) is not None}

    @route("GET", VERSION + r"/(?P<node>\d+)")
    def read_node(self, call: Call, node: str):
        """``GET /{container-id}?fields=status,error_message`` or ``GET /{threads-media-id}?fields=...``."""
        _, refused = self._user(call)
        if refused:
            return refused
        fields = (self._params(call).get("fields") or "id").split(",")
        container = self.containers.get(node)
        if container is not None:
            if container["status"] == "IN_PROGRESS":  # this read still sees it processing, or sees the end
                if container["polls_left"] > 0:
                    container["polls_left"] -= 1
                else:
                    container["status"] = container["end"]
            answer = {"id": node, "status": self._status(container)}
            if answer["status"] == "ERROR":
                answer["error_message"] = container["error_message"] or "UNKNOWN"
            return 200, answer
        post = self.posts.get(node)
        if post is None:
            return 400, error(f"Unsupported get request. Object with ID '{node}' does not exist", 100, subcode=33)
        if "status" in fields:
            return 400, error("Tried accessing nonexisting field (status)", 100, kind="THApiException")
        return 200, self._public(post, fields)

    @route("GET", VERSION + r"/(?P<node>\d+)/replies")
    def replies(self, call: Call, node: str):
        """``GET /{threads-media-id}/replies``: top-level replies (``reverse`` default true: newest first)."""
        _, refused = self._user(call)
        if refused:
            return refused
        if node not in self.posts:
            return 400, error(f"Unsupported get request. Object with ID '{node}' does not exist", 100, subcode=33)
        params = self._params(call)
        items = sorted(self.replies_of(node), key=lambda post: (post["timestamp"], post["id"]),
                       reverse=params.get("reverse", "true") != "false")
        return 200, self._page(items, params, self._public)

    @route("GET", VERSION + r"/(?P<node>\d+)/insights")
    def insights(self, call: Call, node: str):
        """``GET /{threads-media-id}/insights?metric=...``."""
        _, refused = self._user(call)
        if refused:
            return refused
        post = self.posts.get(node)
        if post is None:
            return 400, error(f"Unsupported get request. Object with ID '{node}' does not exist", 100, subcode=33)
        metrics = [name for name in (self._params(call).get("metric") or "").split(",") if name]
        if not metrics or any(name not in post["insights"] for name in metrics):
            return 400, error("(#100) metric must be one of the following values: views, likes, replies, reposts, "
                              "quotes, shares", 100)
        return 200, {"data": [{"name": name, "period": "lifetime", "values": [{"value": post["insights"][name]}],
                               "title": name.title(), "description": f"The number of {name} on your post.",
                               "id": f"{node}/insights/{name}/lifetime"} for name in metrics]}

    @route("GET", VERSION + r"/me")
    def me(self, call: Call):
        """``GET /me?fields=id,username,...``: the token's own profile."""
        profile, refused = self._user(call)
        if refused:
            return refused
        fields = (self._params(call).get("fields") or "id").split(",")
        return 200, {name: profile[name] for name in fields if name in profile}

    # -- OAuth ----------------------------------------------------------------------------------

    @route("GET", r"/oauth/authorize")
    def authorize(self, call: Call):
        """The authorisation window: the user consents at once; back to ``redirect_uri`` with a code."""
        params = self._params(call)
        if params.get("client_id") != APP_ID or params.get("response_type") != "code" or not params.get("scope"):
            return 400, b"Invalid request"
        code = f"AQBx-code-{len(self.codes) + 1}"
        self.codes[code] = ALICE_TOKEN
        query = urllib.parse.urlencode({"code": code, "state": params.get("state", "")})
        return 302, b"", {"Location": f"{params['redirect_uri']}?{query}#_"}

    @route("POST", r"/oauth/access_token")
    def exchange_code(self, call: Call):
        """The code for a short-lived token (``grant_type=authorization_code``)."""
        params = self._params(call)
        if params.get("client_id") != APP_ID or params.get("client_secret") != APP_SECRET:
            return 400, error("Error validating client secret.", 1, kind="OAuthException")
        token = self.codes.pop(params.get("code", ""), None)
        if token is None or params.get("grant_type") != "authorization_code":
            return 400, error("Invalid verification code format.", 100, subcode=36007)
        short = f"short-{token}"
        self.profiles[short] = self.profiles[token]
        return 200, {"access_token": short, "user_id": int(self.profiles[token]["id"])}

    @route("GET", r"/access_token")
    def exchange_token(self, call: Call):
        """``th_exchange_token``: a short-lived token for a 60-day one."""
        params = self._params(call)
        short = params.get("access_token", "")
        if params.get("grant_type") != "th_exchange_token" or params.get("client_secret") != APP_SECRET:
            return 400, error("Error validating client secret.", 1)
        if not short.startswith("short-") or short not in self.profiles:
            return 400, error("Invalid OAuth access token - Cannot parse access token", 190)
        return 200, {"access_token": short.removeprefix("short-"), "token_type": "bearer",
                     "expires_in": LONG_LIVED_SECONDS}

    @route("GET", r"/refresh_access_token")
    def refresh_token(self, call: Call):
        """``th_refresh_token``: the same token valid 60 days again (a new one here, to see it change)."""
        params = self._params(call)
        token = params.get("access_token", "")
        if params.get("grant_type") != "th_refresh_token" or token not in self.profiles or token in self.expired:
            return 400, error("Error validating access token: Session has expired", 190, subcode=463)
        fresh = f"{token}-r{len(self.refreshed) + 1}"
        self.profiles[fresh] = self.profiles[token]
        self.refreshed.append(fresh)
        return 200, {"access_token": fresh, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}
