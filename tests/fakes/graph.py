"""A fake Meta Graph API (Instagram content publishing and Facebook Pages) on real HTTP, for tests.

::

    with FakeGraph() as fake:
        config = Config().with_settings(graph_base_url=fake.base_url)
        ...                                   # drive a plugin
        assert len(fake.published(IG_USER_ID)) == 1

The fake listens on 127.0.0.1 (a free port) in a background thread and accepts any version
prefix (``/v25.0/…``) or none. It starts with one Instagram account (:data:`IG_USER_ID`, token
:data:`IG_TOKEN`), one Page (:data:`PAGE_ID`, token :data:`PAGE_TOKEN`, linked to that account)
and one Facebook user who manages the Page (:data:`FB_USER_TOKEN`), all made by the app
:data:`APP_ID` (secret :data:`APP_SECRET`). Containers move on by
status reads, not by time, so tests never sleep; ``advance()`` moves the fake's clock (token
expiry, 24-hour container expiry, the publishing quota window). Behaviour follows
/work/shared/research/platform-apis.md §1-4 and the checklist of §7.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from herald.fake_api import serve, shut

from .graph_model import (
    AuthorizationCode,
    ContainerPlan,
    FacebookUser,
    FakeRequest,
    GraphFault,
    IGUser,
    Page,
    Rule,
    Token,
)
from .graph_routes import GraphRoutes

IG_USER_ID = "17841400000000001"
IG_USERNAME = "herald.test"
IG_TOKEN = "IGAA-test-instagram-user-token"
PAGE_ID = "1055500000000001"
PAGE_NAME = "Herald Test Page"
PAGE_TOKEN = "EAAP-test-page-token"
FB_USER_ID = "10220000000000001"
FB_USER_TOKEN = "EAAU-test-facebook-user-token"
APP_ID = "1234567890"  # the app every token of the fake was made for (debug_token's app_id)
APP_SECRET = "test-app-secret"
IG_APP_ID = "9876543210"  # the Instagram app (Instagram Login), whose id differs from the Meta app's
IG_APP_SECRET = "test-instagram-app-secret"
IG_SCOPES = ["instagram_business_basic", "instagram_business_content_publish", "instagram_business_manage_insights",
             "instagram_business_manage_comments"]
PAGE_SCOPES = ["pages_show_list", "pages_manage_posts", "pages_read_engagement", "pages_manage_engagement",
               "read_insights", "instagram_basic", "instagram_content_publish", "instagram_manage_insights",
               "instagram_manage_comments"]
DEFAULT_VERSION = "v25.0"
VERSION_PREFIX = re.compile(r"^/(v\d+\.\d+)(?=/|$)")
ID_BASES = {"container": 18000000000000100, "media": 17900000000000100, "post": 1200000000000100,
            "photo": 1300000000000100, "video": 1400000000000100, "comment": 17800000000000100}


class FakeGraph(GraphRoutes):
    """A Graph API server with inspectable state and fault injection (see the module docstring)."""

    def __init__(self, *, quota_total: int = 100, quota_duration: int = 86400, image_polls: int = 0,
                 video_polls: int = 1, reject_duplicates: bool = False, defaults: bool = True):
        self.quota_total = quota_total
        self.quota_duration = quota_duration
        self.image_polls = image_polls
        self.video_polls = video_polls
        self.reject_duplicates = reject_duplicates
        self.app_id, self.app_secret = APP_ID, APP_SECRET
        self.ig_app_id, self.ig_app_secret = IG_APP_ID, IG_APP_SECRET
        # Who is signed in to the fake Login dialog (``/dialog/oauth``): it consents for them at once.
        self.dialog_user: str | None = None
        self._lock = threading.RLock()
        self._offset = 0.0
        self._counter = itertools.count(1)
        self._tokens: dict[str, Token] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._ig_users: dict[str, IGUser] = {}
        self._pages: dict[str, Page] = {}
        self._fb_users: dict[str, FacebookUser] = {}
        self._containers: dict = {}
        self._media: dict = {}
        self._posts: dict = {}
        self._photos: dict = {}
        self._videos: dict = {}
        self._comments: list = []
        self._publishes: dict[str, list[float]] = {}
        self._plans: list[ContainerPlan] = []
        self._rules: list[Rule] = []
        self._requests: list[FakeRequest] = []
        self._server: ThreadingHTTPServer | None = None
        if defaults:
            self.add_ig_user(IG_USER_ID, IG_USERNAME, token=IG_TOKEN)
            self.add_page(PAGE_ID, PAGE_NAME, token=PAGE_TOKEN, ig_user_id=IG_USER_ID)
            self.add_user(FB_USER_ID, "Ana Tester", token=FB_USER_TOKEN, pages=[PAGE_ID])

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeGraph:
        """Start serving on a free port of 127.0.0.1; returns the fake."""
        self._server = serve(type("Handler", (_Handler,), {"fake": self}), "fake-graph")
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            shut(self._server)
            self._server = None

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, without a version (what ``Config.graph_base_url`` takes)."""
        if self._server is None:
            raise RuntimeError("FakeGraph is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def hosts(self) -> dict[str, str]:
        """Config settings pointing every Meta host (Facebook Login's, Instagram Login's and its code
        exchange's) at this fake."""
        return {"graph_base_url": self.base_url, "instagram_base_url": self.base_url,
                "instagram_api_url": self.base_url, "facebook_dialog_url": f"{self.base_url}/dialog/oauth"}

    # -- clock ------------------------------------------------------------------------------

    def now(self) -> float:
        """The fake's clock (Unix seconds): real time plus whatever :meth:`advance` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (expires tokens and containers, ages the quota window)."""
        with self._lock:
            self._offset += seconds

    # -- accounts and tokens ----------------------------------------------------------------

    def add_token(self, value: str, *, kind: str, owner: str, expires_in: float | None = None,
                  scopes: list[str] | None = None) -> Token:
        """Register an access token of ``kind`` (USER, PAGE, APP) acting as ``owner``.

        ``expires_in`` seconds from now, or None for a token that never expires.
        """
        with self._lock:
            expires_at = None if expires_in is None else self.now() + expires_in
            default_scopes = PAGE_SCOPES if kind == "PAGE" else IG_SCOPES if owner in self._ig_users else PAGE_SCOPES
            token = Token(value=value, kind=kind, owner=owner, expires_at=expires_at,
                          scopes=list(default_scopes if scopes is None else scopes), issued_at=self.now())
            self._tokens[value] = token
            return token

    def add_ig_user(self, ig_id: str, username: str, *, token: str | None = None,
                    expires_in: float | None = 60 * 86400, scopes: list[str] | None = None) -> IGUser:
        """Add an Instagram professional account and (optionally) its Instagram User token."""
        with self._lock:
            user = IGUser(id=ig_id, username=username)
            self._ig_users[ig_id] = user
            if token:
                self.add_token(token, kind="USER", owner=ig_id, expires_in=expires_in, scopes=scopes)
            return user

    def add_page(self, page_id: str, name: str, *, token: str, ig_user_id: str | None = None,
                 expires_in: float | None = None, scopes: list[str] | None = None) -> Page:
        """Add a Page with its Page token (never expiring by default) and an optional linked IG account."""
        with self._lock:
            page = Page(id=page_id, name=name, token=token, ig_user_id=ig_user_id)
            self._pages[page_id] = page
            if ig_user_id:
                self._ig_users[ig_user_id].page_id = page_id
            self.add_token(token, kind="PAGE", owner=page_id, expires_in=expires_in, scopes=scopes)
            return page

    def add_user(self, user_id: str, name: str, *, token: str, pages: list[str] = (),
                 expires_in: float | None = 60 * 86400, scopes: list[str] | None = None) -> FacebookUser:
        """Add a Facebook user who manages ``pages`` (listed by ``/me/accounts``) and their user token."""
        with self._lock:
            user = FacebookUser(id=user_id, name=name, pages=list(pages))
            self._fb_users[user_id] = user
            self.add_token(token, kind="USER", owner=user_id, expires_in=expires_in, scopes=scopes)
            return user

    def authorize(self, user_id: str, redirect_uri: str, *, scopes: list[str] | None = None,
                  lifetime: float = 600) -> str:
        """What the Login dialog does when the user ``user_id`` consents: a code (valid ``lifetime``
        seconds, once) that ``oauth/access_token`` exchanges for a short-lived user token, given the
        same ``redirect_uri``. The dialog itself is Meta's page: tests call Herald's callback with this code.
        For an Instagram account's id: Instagram's authorisation window (Instagram Login) instead."""
        with self._lock:
            login = "instagram" if user_id in self._ig_users else "facebook"
            default = IG_SCOPES if login == "instagram" else PAGE_SCOPES
            value = f"AQD-code-{next(self._counter)}"
            self._codes[value] = AuthorizationCode(value, user_id, redirect_uri,
                                                   list(default if scopes is None else scopes),
                                                   self.now() + lifetime, login=login)
            return value

    def expire_token(self, value: str) -> None:
        """Make a token expired (Graph answers 190/463 for it from now on)."""
        with self._lock:
            self._tokens[value].expires_at = self.now() - 60

    def forget_token(self, value: str) -> None:
        """Unknown from now on: Graph answers 190 "Cannot parse access token", as a host that never
        issued it does (an Instagram User token on graph.facebook.com, a Facebook one on graph.instagram.com)."""
        with self._lock:
            del self._tokens[value]

    def invalidate_token(self, value: str, subcode: int = 460) -> None:
        """Invalidate a token's session (460 password changed, 458 app removed, 467 logged out, …)."""
        with self._lock:
            self._tokens[value].invalid_subcode = subcode

    def token(self, value: str) -> Token:
        """A copy of a registered token."""
        with self._lock:
            return copy.deepcopy(self._tokens[value])

    # -- containers and quota ---------------------------------------------------------------

    def next_container(self, *, polls_until_finished: int | None = None, end: str = "FINISHED",
                       subcode: int | None = 2207026, kind: str | None = None, times: int = 1) -> None:
        """Script the next ``times`` containers (of ``kind``: IMAGE, VIDEO, REELS, STORIES, CAROUSEL).

        They answer ``IN_PROGRESS`` to ``polls_until_finished`` status reads (default: 0 for images,
        ``video_polls`` for videos), then ``end``: FINISHED, ERROR (with ``subcode`` in ``status``),
        EXPIRED, or IN_PROGRESS (for ever).
        """
        if end not in {"FINISHED", "ERROR", "EXPIRED", "IN_PROGRESS"}:
            raise ValueError(f"unknown container end state {end!r}")
        with self._lock:
            self._plans.append(ContainerPlan(polls=polls_until_finished, end=end,
                                             subcode=subcode if end == "ERROR" else None, kind=kind, times=times))

    def _take_plan(self, kind: str) -> ContainerPlan | None:
        for plan in self._plans:
            if plan.kind in (None, kind):
                plan.times -= 1
                if plan.times <= 0:
                    self._plans.remove(plan)
                return plan
        return None

    def set_container(self, container_id: str, status_code: str, *, subcode: int | None = None) -> None:
        """Force a container's ``status_code`` (e.g. ``EXPIRED``), as if time had passed."""
        with self._lock:
            container = self._containers[container_id]
            container.forced, container.subcode = status_code, subcode

    def container(self, container_id: str) -> dict[str, Any]:
        """A container's record (kind, params, children, polls, media_id, …) as a dict."""
        with self._lock:
            container = self._containers[container_id]
            record = copy.deepcopy(vars(container))
            record["status_code"] = self._status(container, poll=False)[0]
            return record

    def containers(self, ig_id: str | None = None) -> list[dict[str, Any]]:
        """Every container created (for one account when ``ig_id`` is given), oldest first."""
        with self._lock:
            return [self.container(cid) for cid, c in self._containers.items() if ig_id in (None, c.owner)]

    def set_quota_usage(self, ig_id: str, usage: int, *, age: float = 0.0) -> None:
        """Pretend ``usage`` posts were published through the API ``age`` seconds ago (they leave the
        quota window ``quota_duration`` seconds after they were published)."""
        with self._lock:
            self._publishes[ig_id] = [self.now() - age] * usage

    def quota_usage(self, ig_id: str, since: float | None = None) -> int:
        """API-published posts of the account within the last ``quota_duration`` seconds (and at or
        after ``since``, as the ``since`` parameter of ``content_publishing_limit`` asks)."""
        with self._lock:
            window_start = self.now() - self.quota_duration
            return sum(1 for stamp in self._publishes.get(ig_id, [])
                       if stamp > window_start and (since is None or stamp >= since))

    # -- what was published -----------------------------------------------------------------

    def published(self, account_id: str) -> list[dict[str, Any]]:
        """Media published on an Instagram account, or published posts of a Page, oldest first."""
        with self._lock:
            if account_id in self._pages:
                posts = [post for post in self._posts.values() if post.page_id == account_id and post.published]
                return [post.as_dict() for post in sorted(posts, key=lambda post: post.created_time)]
            media = [item for item in self._media.values() if item.owner == account_id]
            return [item.as_dict() for item in sorted(media, key=lambda item: item.timestamp)]

    def scheduled(self, page_id: str) -> list[dict[str, Any]]:
        """Scheduled (not yet published) posts of a Page."""
        with self._lock:
            return [post.as_dict() for post in self._page_posts(page_id, scheduled=True)]

    def comments(self, object_id: str) -> list[dict[str, Any]]:
        """Comments made through the API under ``object_id`` (IG media, Page post, photo or video), oldest first."""
        with self._lock:
            return [dataclasses.asdict(item) for item in self._comments if item.object_id == object_id]

    def add_comment(self, object_id: str, message: str, *, author: str = "17841499999999999",
                    username: str = "a.follower") -> str:
        """Someone else comments ``message`` under ``object_id`` (as a follower would); the comment's id."""
        with self._lock:
            return self._store_comment(object_id, author, username, message).id

    def set_metrics(self, object_id: str, **values: Any) -> None:
        """Set counts of a published object: for IG media ``like_count``, ``comments_count``,
        ``too_few_viewers`` or insight names (``reach=…``, ``saved=…``); for Page posts ``reactions``,
        ``comments``, ``shares`` or insight names (``post_total_media_view_unique=…``)."""
        with self._lock:
            record = self._media.get(object_id) or self._posts.get(object_id)
            if record is None and object_id in self._videos:
                record = self._posts[self._videos[object_id].post_id]
            for name, value in values.items():
                if hasattr(record, name) and name != "insights":
                    setattr(record, name, value)
                else:
                    record.insights[name] = value

    # -- fault injection --------------------------------------------------------------------

    def fail_next(self, path_regex: str, *, code: int, subcode: int | None = None, status: int | None = None,
                  message: str | None = None, is_transient: bool | None = None, times: int | None = 1,
                  headers: dict[str, Any] | None = None, method: str | None = None,
                  error_user_title: str | None = None, error_user_msg: str | None = None,
                  applied: bool = False, with_param: str | None = None) -> None:
        """Answer the next ``times`` requests whose path (no version) matches ``path_regex`` with a
        Graph error, without doing anything else (``applied=True``: after doing the work anyway, as
        when Meta answers code 1 or 2 for a request that took effect). ``status`` defaults to 500 for
        codes 1/2, 403 for rate-limit codes and 400 otherwise; ``headers`` values that are dicts are
        sent as JSON (for ``X-App-Usage`` / ``X-Business-Use-Case-Usage``). ``times=None`` fails until
        cleared. ``with_param`` limits it to requests carrying that parameter (``after``: the later
        pages of a list, so a read fails mid-paging).
        """
        fault = GraphFault(code, message, subcode=subcode, status=status, is_transient=is_transient,
                           headers=headers, user_title=error_user_title, user_msg=error_user_msg)
        self._add_rule(Rule(re.compile(path_regex), method, "fail", times, fault=fault, applied=applied,
                            param=with_param))

    def delay_next(self, path_regex: str, seconds: float, *, times: int | None = 1, method: str | None = None) -> None:
        """Wait ``seconds`` before handling the next matching request(s) (to trigger client timeouts)."""
        self._add_rule(Rule(re.compile(path_regex), method, "delay", times, seconds=seconds))

    def drop_connection_after(self, path_regex: str, *, times: int | None = 1, method: str | None = None) -> None:
        """Handle the next matching request(s) fully (e.g. really publish), then close the connection
        without answering, as when a response is lost."""
        self._add_rule(Rule(re.compile(path_regex), method, "drop", times))

    def drop_connection_before(self, path_regex: str, *, times: int | None = 1, method: str | None = None) -> None:
        """Close the connection on the next matching request(s) without handling them, as when a
        request is lost on its way: the client cannot tell this from :meth:`drop_connection_after`."""
        self._add_rule(Rule(re.compile(path_regex), method, "hang_up", times))

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        with self._lock:
            self._rules.clear()

    def _add_rule(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _take_rule(self, req: FakeRequest, action: str) -> Rule | None:
        for rule in self._rules:
            if rule.action == action and rule.matches(req.method, req.path, req.params):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                return rule
        return None

    # -- request log ------------------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        """Every request received, oldest first (method, path without version, params, token, status)."""
        with self._lock:
            return list(self._requests)

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[FakeRequest]:
        """The requests with ``method`` whose path matches ``path_regex``."""
        pattern = re.compile(path_regex) if path_regex else None
        return [req for req in self.requests
                if method in (None, req.method) and (pattern is None or pattern.search(req.path))]

    # -- request handling -------------------------------------------------------------------

    def _new_id(self, kind: str) -> str:
        return str(ID_BASES[kind] + next(self._counter))

    def handle(self, req: FakeRequest) -> tuple[int, dict[str, Any], dict[str, str], bool]:
        """Answer one request: (status, JSON body, headers, drop the connection?)."""
        with self._lock:
            self._requests.append(req)
            if self._take_rule(req, "hang_up") is not None:
                req.status = None
                return 0, {}, {}, True
            delay = self._take_rule(req, "delay")
        if delay:
            time.sleep(delay.seconds)  # only ever an injected delay
        with self._lock:
            failure = self._take_rule(req, "fail")
            headers: dict[str, str] = {}
            try:
                if failure:
                    if failure.applied:
                        self._dispatch(req)
                    raise failure.fault
                status, body = 200, self._dispatch(req)
            except GraphFault as fault:
                status, body = fault.status, fault.body()
                headers = {name: value if isinstance(value, str) else json.dumps(value)
                           for name, value in fault.headers.items()}
            drop = self._take_rule(req, "drop") is not None
            req.status = None if drop else status
            return status, body, headers, drop


class _Handler(BaseHTTPRequestHandler):
    """Parses one HTTP request into a :class:`FakeRequest` and writes the fake's answer."""

    fake: FakeGraph
    protocol_version = "HTTP/1.1"  # keep-alive, as graph.facebook.com
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall between them

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")

    def log_message(self, format, *args):  # noqa: A002 (keeps test output quiet)
        pass

    def _dialog(self, split) -> None:
        """Facebook Login's dialog, played by the user ``fake.dialog_user`` consenting at once: back to the
        ``redirect_uri`` with a code and the ``state`` (or ``error=access_denied`` when nobody is signed in)."""
        query = dict(parse_qsl(split.query))
        if self.fake.dialog_user is None:
            answer = {"error": "access_denied", "error_reason": "user_denied", "state": query.get("state", "")}
        else:
            answer = {"code": self.fake.authorize(self.fake.dialog_user, query["redirect_uri"]),
                      "state": query.get("state", "")}
        self.send_response(302)
        self.send_header("Location", f"{query['redirect_uri']}?{urlencode(answer)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        if method == "GET" and split.path == "/dialog/oauth":
            self._dialog(split)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(split.query, keep_blank_values=True))
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "application/json" and body:
            params.update(json.loads(body))
        elif body:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        token = params.pop("access_token", None)
        auth = self.headers.get("Authorization") or ""
        if not token and auth.split(" ", 1)[0].lower() in ("bearer", "oauth"):
            token = auth.split(" ", 1)[1].strip()
        match = VERSION_PREFIX.match(split.path)
        version = match.group(1) if match else None
        path = split.path[match.end():] if match else split.path
        req = FakeRequest(method=method, path=path or "/", version=version, params=params,
                          headers=dict(self.headers.items()), token=token)
        status, payload, headers, drop = self.fake.handle(req)
        if drop:
            self.close_connection = True
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("facebook-api-version", version or DEFAULT_VERSION)
        self.send_header("x-fb-trace-id", payload.get("error", {}).get("fbtrace_id", "FakeTrace"))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
