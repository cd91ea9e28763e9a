"""A small LinkedIn on loopback, written from docs/platforms/linkedin.md (LinkedIn's Posts, Images,
MultiImage, Comments, Organization Share Statistics, organizationAcls and OAuth documentation on
learn.microsoft.com/linkedin, cited there), not from the plugin.

It keeps members (by access token) and the Pages they administer, images, posts and comments, and
answers with LinkedIn's shapes: ``201`` and ``x-restli-id`` for a new post, ``{"value": {...}}`` for an
image upload's start, ``{"elements": [...], "paging": {...}}`` for collections, and LinkedIn's error
bodies ``{"message", "serviceErrorCode", "status"}`` (a 422 ``DUPLICATE_POST`` for a text the Page
posted within a day). Every versioned call must name ``LinkedIn-Version`` and
``X-Restli-Protocol-Version: 2.0.0``. Faults a test injects: :meth:`FakeLinkedIn.rate_limited` (429,
which comes with no rate-limit headers on LinkedIn), :meth:`FakeLinkedIn.unavailable` (5xx),
:meth:`FakeLinkedIn.drop_after_create` (the post or comment is made, then the connection closes
without an answer), :meth:`FakeLinkedIn.expire` (an expired token answers 401), ``processing_reads``
(images stay ``PROCESSING`` for that many status reads), plus :class:`herald.testing.FakeAPI`'s own.

For the all-platforms tests: start it on the test's clock (``FakeLinkedIn(clock=herald_clock.timestamp)``:
the plugin matches an earlier attempt's post by its creation time); make the application with
``herald_app_factory(**settings(fake), public_url=...)`` (:func:`settings`; :func:`env` gives the same as
``HERALD_*`` variables); :data:`CONNECT` is the body of ``POST /v1/accounts`` that connects the Page
:data:`ORG_ID`; :meth:`FakeLinkedIn.posts_of` and :meth:`FakeLinkedIn.comments_of` list what was published.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from herald.testing import Call, FakeAPI, route

CLIENT_ID = "86linkedinapp"
CLIENT_SECRET = "WPL_AP1.fake-secret"
MEMBER_TOKEN = "AQV-member-token-of-an-admin"  # administers ORG_ID only
OTHER_TOKEN = "AQV-member-token-of-two-pages"  # administers ORG_ID and OTHER_ORG_ID
REFRESH_TOKEN = "AQX-refresh-token"
ORG_ID = "2414183"
ORG_NAME = "Herald Test Company"
OTHER_ORG_ID = "5515715"
OTHER_ORG_NAME = "Second Company"
CONNECT = {"platform": "linkedin", "access_token": MEMBER_TOKEN}
ACCESS_SECONDS = 5_184_000  # 60 days
REFRESH_SECONDS = 31_536_000  # a year
DUPLICATE_SECONDS = 24 * 3600
THROTTLED = {"message": "Resource level throttle limit for calls to this resource is reached.", "status": 429}
RESERVED = re.compile(r"(?<!\\)[|{}@\[\]()<>#*_~]")


def settings(fake: FakeLinkedIn) -> dict[str, str]:
    """The plugin's settings (as ``herald_app_factory`` keywords) that point it at ``fake``."""
    return {"linkedin_api_url": fake.url, "linkedin_oauth_url": fake.url, "linkedin_client_id": CLIENT_ID,
            "linkedin_client_secret": CLIENT_SECRET}


def env(fake: FakeLinkedIn) -> dict[str, str]:
    """The same as ``HERALD_*`` variables, for worker processes."""
    return {f"HERALD_{name.upper()}": value for name, value in settings(fake).items()}


def error(status: int, message: str, code: int | None = None) -> tuple[int, dict]:
    """LinkedIn's error body."""
    body: dict[str, Any] = {"message": message, "status": status}
    if code is not None:
        body["serviceErrorCode"] = code
    return status, body


class FakeLinkedIn(FakeAPI):
    """See the module docstring. ``clock`` gives the fake's time (seconds since the epoch): the test's."""

    def __init__(self, clock: Callable[[], float] = time.time):
        super().__init__()
        self.clock = clock
        self.orgs = {ORG_ID: {"localizedName": ORG_NAME, "vanityName": "herald-test"},
                     OTHER_ORG_ID: {"localizedName": OTHER_ORG_NAME, "vanityName": "second-company"}}
        self.members = {MEMBER_TOKEN: {"person": "urn:li:person:abc123", "orgs": [ORG_ID]},
                        OTHER_TOKEN: {"person": "urn:li:person:def456", "orgs": [ORG_ID, OTHER_ORG_ID]}}
        self.expired: set[str] = set()
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (member token, redirect_uri)
        self.refresh_tokens = {REFRESH_TOKEN: MEMBER_TOKEN}
        self.images: dict[str, dict] = {}
        self.uploads: dict[str, str] = {}  # upload key -> image urn
        self.posts: dict[str, dict] = {}
        self.comments: dict[str, list[dict]] = {}
        self.engagement: dict[str, dict[str, int]] = {}
        self.processing_reads = 0
        self._drops = {"posts": 0, "comments": 0}
        self._ids = itertools.count(7_141_138_937_766_391_808)

    # -- what tests read and do ----------------------------------------------------------------------

    def posts_of(self, org_id: str = ORG_ID) -> list[dict]:
        """The Page's posts, oldest first."""
        author = f"urn:li:organization:{org_id}"
        return sorted((post for post in self.posts.values() if post["author"] == author),
                      key=lambda post: post["createdAt"])

    def comments_of(self, post_urn: str) -> list[dict]:
        """The comments under a post, oldest first."""
        return list(self.comments.get(post_urn, []))

    def add_post(self, text: str, org_id: str = ORG_ID, seconds_ago: float = 0.0) -> dict:
        """A post someone made on the Page by hand (``text`` as LinkedIn stores it)."""
        with self._lock:
            return self._store_post({"author": f"urn:li:organization:{org_id}", "commentary": text,
                                     "visibility": "PUBLIC", "lifecycleState": "PUBLISHED"},
                                    created=self.clock() - seconds_ago)

    def engage(self, post_urn: str, **counts: int) -> None:
        """People react: ``likeCount``, ``shareCount``, ``impressionCount``, ``uniqueImpressionsCount``…"""
        self.engagement.setdefault(post_urn, {}).update(counts)

    def authorize(self, token: str, redirect_uri: str) -> str:
        """What a member's browser does in LinkedIn's dialog: consent. The code LinkedIn hands back."""
        code = "AQT" + secrets.token_hex(8)
        self.codes[code] = (token, redirect_uri)
        return code

    def expire(self, token: str) -> None:
        """The token runs out (or is revoked): every call with it answers 401."""
        self.expired.add(token)

    def rate_limited(self, times: int = 1, path: str | None = None) -> None:
        """The next calls answer 429 (LinkedIn sends no rate-limit headers)."""
        self.fail_next(429, THROTTLED, path=path, times=times)

    def unavailable(self, status: int = 503, times: int = 1, path: str | None = None) -> None:
        """The next calls answer a server error."""
        self.fail_next(status, {"message": "Service Unavailable" if status == 503 else "Internal Server Error",
                                "status": status}, path=path, times=times)

    def drop_after_create(self, what: str = "posts", times: int = 1) -> None:
        """The next ``times`` posts (or ``comments``) are made, and their answers never leave."""
        self._drops[what] += times

    def handle(self, call: Call):
        """Answer ``call``; closes the connection instead after a create the test asked to drop."""
        answer, drop = super().handle(call)
        what = ("posts" if call.path == "/rest/posts" else
                "comments" if call.path.endswith("/comments") else None)
        if call.method == "POST" and what and answer[0] == 201 and self._drops[what]:
            with self._lock:
                self._drops[what] -= 1
            return answer, True
        return answer, drop

    def not_found(self, call: Call):
        """LinkedIn's 404 body."""
        return error(404, f"No virtual resource found for {call.path}")

    # -- helpers -------------------------------------------------------------------------------------

    def _member(self, call: Call, versioned: bool = True):
        """The calling member, or the error answer LinkedIn gives."""
        auth = call.header("Authorization") or ""
        if not auth:
            return None, error(401, "Empty oauth2_access_token", 401)
        token = auth.removeprefix("Bearer ")
        if token in self.expired:
            return None, error(401, "The token used in the request has expired", 65602)
        member = self.members.get(token)
        if member is None:
            return None, error(401, "Invalid access token", 65600)
        if versioned and not re.fullmatch(r"20\d{4}(\.\d{2})?", call.header("LinkedIn-Version") or ""):
            return None, error(400, "A version must be present. Please specify a version by adding the "
                                    "LinkedIn-Version header.", 100)
        if versioned and call.header("X-Restli-Protocol-Version") != "2.0.0":
            return None, error(400, "This API requires X-Restli-Protocol-Version: 2.0.0", 100)
        return member, None

    def _admin_of(self, member: dict, org_urn: str) -> bool:
        return org_urn.startswith("urn:li:organization:") and org_urn.rsplit(":", 1)[1] in member["orgs"]

    def _store_post(self, body: dict, created: float | None = None) -> dict:
        kind = "ugcPost" if (body.get("content") or {}).get("multiImage") else "share"
        urn = f"urn:li:{kind}:{next(self._ids)}"
        millis = int((self.clock() if created is None else created) * 1000)
        post = {**body, "id": urn, "createdAt": millis, "publishedAt": millis, "lastModifiedAt": millis}
        self.posts[urn] = post
        return post

    # -- OAuth ---------------------------------------------------------------------------------------

    @route("POST", r"/oauth/v2/accessToken")
    def access_token(self, call: Call):
        """The code exchange and the refresh (form-encoded, with the app's credentials)."""
        form = call.form
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        if form.get("grant_type") == "authorization_code":
            found = self.codes.pop(form.get("code", ""), None)
            if found is None or found[1] != form.get("redirect_uri"):
                return 400, {"error": "invalid_request", "error_description": "Unable to retrieve access token: "
                                                                                "authorization code not found"}
            token = found[0]
            return 200, {"access_token": token, "expires_in": ACCESS_SECONDS, "refresh_token": REFRESH_TOKEN,
                         "refresh_token_expires_in": REFRESH_SECONDS,
                         "scope": "r_organization_social,rw_organization_admin,w_organization_social"}
        if form.get("grant_type") == "refresh_token":
            old = self.refresh_tokens.get(form.get("refresh_token", ""))
            if old is None:
                return 400, {"error": "invalid_grant",
                             "error_description": "The provided authorization grant or refresh token is invalid, "
                                                  "expired or revoked"}
            fresh = "AQV-refreshed-" + secrets.token_hex(6)
            self.members[fresh] = self.members[old]
            self.refresh_tokens[form["refresh_token"]] = fresh
            return 200, {"access_token": fresh, "expires_in": ACCESS_SECONDS, "refresh_token": form["refresh_token"],
                         "refresh_token_expires_in": REFRESH_SECONDS - 86400}
        return 400, {"error": "unsupported_grant_type", "error_description": "grant_type is not supported"}

    # -- organisations -------------------------------------------------------------------------------

    @route("GET", r"/rest/organizationAcls")
    def organization_acls(self, call: Call):
        """``q=roleAssignee``: the member's approved roles (only ADMINISTRATOR ones are kept here)."""
        member, refused = self._member(call)
        if refused:
            return refused
        if call.query.get("q") != "roleAssignee":
            return error(400, "Invalid query parameters passed to request", 100)
        elements = [{"roleAssignee": member["person"], "role": "ADMINISTRATOR", "state": "APPROVED",
                     "organization": f"urn:li:organization:{org}"} for org in member["orgs"]]
        start, count = int(call.query.get("start", 0)), int(call.query.get("count", 10))
        return 200, {"elements": elements[start:start + count],
                     "paging": {"start": start, "count": count, "total": len(elements)}}

    @route("GET", r"/rest/organizations/(?P<org_id>\d+)")
    def organization(self, call: Call, org_id: str):
        """An organisation's public fields."""
        _, refused = self._member(call)
        if refused:
            return refused
        if org_id not in self.orgs:
            return error(404, f"Organization {org_id} does not exist")
        return 200, {"id": int(org_id), **self.orgs[org_id]}

    # -- images --------------------------------------------------------------------------------------

    @route("POST", r"/rest/images")
    def initialize_upload(self, call: Call):
        """``?action=initializeUpload``: an upload URL and the image's URN, owned by the Page."""
        member, refused = self._member(call)
        if refused:
            return refused
        if call.query.get("action") != "initializeUpload":
            return error(400, "Unsupported action", 100)
        owner = ((call.json() or {}).get("initializeUploadRequest") or {}).get("owner", "")
        if not self._admin_of(member, owner):
            return error(403, f"Not enough permissions to access: images.ACTION.{owner}", 100)
        urn = f"urn:li:image:D4E10AQ{secrets.token_hex(6)}"
        key = secrets.token_hex(8)
        self.uploads[key] = urn
        self.images[urn] = {"id": urn, "owner": owner, "status": "WAITING_UPLOAD", "reads": 0}
        return 200, {"value": {"uploadUrlExpiresAt": int((self.clock() + 3600) * 1000),
                               "uploadUrl": f"{self.url}/dms-uploads/{key}", "image": urn}}

    @route("PUT", r"/dms-uploads/(?P<key>\w+)")
    def upload(self, call: Call, key: str):
        """The image's bytes."""
        urn = self.uploads.pop(key, None)
        if urn is None or not call.body:
            return error(400, "Upload URL is invalid or was used already")
        self.images[urn].update(status="PROCESSING", size=len(call.body), data=call.body)
        return 201, b""

    @route("GET", r"/rest/images/(?P<urn>[^/]+)")
    def image(self, call: Call, urn: str):
        """An image's status: PROCESSING for ``processing_reads`` reads after the upload, then AVAILABLE."""
        _, refused = self._member(call)
        if refused:
            return refused
        image = self.images.get(unquote(urn))
        if image is None:
            return error(404, f"Image {unquote(urn)} does not exist")
        if image["status"] == "PROCESSING":
            image["reads"] += 1
            if image["reads"] > self.processing_reads:
                image["status"] = "AVAILABLE"
        return 200, {"id": image["id"], "owner": image["owner"], "status": image["status"]}

    # -- posts ---------------------------------------------------------------------------------------

    @route("POST", r"/rest/posts")
    def create_post(self, call: Call):
        """A new post: 201 with its URN in ``x-restli-id`` and no body."""
        member, refused = self._member(call)
        if refused:
            return refused
        body = call.json() or {}
        author = body.get("author", "")
        if not self._admin_of(member, author):
            return error(403, "Not enough permissions to access: partnerApiPostsExternal.CREATE.20261101", 100)
        commentary = body.get("commentary", "")
        missing = [name for name in ("visibility", "distribution", "lifecycleState") if name not in body]
        if missing:
            return error(422, f"/{missing[0]} :: field is required but not found and has no default value", 100)
        if len(commentary) > 3000 + commentary.count("\\"):
            return error(422, "/commentary :: length of commentary exceeds the maximum of 3000", 100)
        content = body.get("content") or {}
        shown = ([content["media"]] if "media" in content else (content.get("multiImage") or {}).get("images", []))
        if "multiImage" in content and not 2 <= len(shown) <= 20:
            return error(422, "/content/multiImage/images :: a MultiImage post takes 2 to 20 images", 100)
        for item in shown:
            image = self.images.get(item.get("id"))
            if image is None or image["status"] != "AVAILABLE" or image["owner"] != author:
                return error(422, f"The image {item.get('id')} is not available", 100)
        now = self.clock()
        for post in self.posts.values():
            if (post["author"] == author and post["commentary"] == commentary and commentary
                    and now - post["createdAt"] / 1000 < DUPLICATE_SECONDS):
                return 422, {"errorDetailType": "com.linkedin.common.error.BadRequest",
                             "message": "com.linkedin.content.common.exception.BadRequestResponseException: Content "
                                        f"is a duplicate of {post['id']}",
                             "errorDetails": {"inputErrors": [{"description": "Duplicate post is detected",
                                                               "input": {}, "code": "DUPLICATE_POST"}]},
                             "status": 422}
        post = self._store_post({key: value for key, value in body.items()})
        post["text_shown"] = RESERVED.split(commentary)[0]  # what members see: cut at an unescaped one
        return 201, b"", {"x-restli-id": post["id"], "x-linkedin-id": post["id"]}

    @route("GET", r"/rest/posts")
    def posts_by_author(self, call: Call):
        """``q=author``: the author's posts, newest first (``sortBy`` CREATED or LAST_MODIFIED)."""
        member, refused = self._member(call)
        if refused:
            return refused
        author = call.query.get("author", "")
        if call.query.get("q") != "author" or not author:
            return error(400, "Invalid query parameters passed to request", 100)
        if not self._admin_of(member, author):
            return error(403, "Not enough permissions to access: partnerApiPostsExternal.FINDER-author", 100)
        key = "createdAt" if call.query.get("sortBy") == "CREATED" else "lastModifiedAt"
        found = sorted((post for post in self.posts.values() if post["author"] == author),
                       key=lambda post: post[key], reverse=True)
        start, count = int(call.query.get("start", 0)), min(int(call.query.get("count", 10)), 100)
        page = [{name: value for name, value in post.items() if name != "text_shown"}
                for post in found[start:start + count]]
        return 200, {"elements": page, "paging": {"start": start, "count": count, "total": len(found),
                                                  "links": []}}

    # -- comments ------------------------------------------------------------------------------------

    @route("POST", r"/rest/socialActions/(?P<urn>[^/]+)/comments")
    def create_comment(self, call: Call, urn: str):
        """A comment by ``actor`` (the Page) under the post: 201 with the comment."""
        member, refused = self._member(call)
        if refused:
            return refused
        post_urn = unquote(urn)
        body = call.json() or {}
        if post_urn not in self.posts:
            return error(404, f"Post {post_urn} does not exist")
        if not self._admin_of(member, body.get("actor", "")):
            return error(403, "Not enough permissions to access: comments.CREATE", 100)
        comment_id = str(next(self._ids))
        millis = int(self.clock() * 1000)
        comment = {"id": comment_id, "$URN": f"urn:li:comment:({post_urn},{comment_id})", "actor": body["actor"],
                   "object": post_urn, "message": {"text": (body.get("message") or {}).get("text", ""),
                                                    "attributes": []},
                   "created": {"actor": body["actor"], "time": millis},
                   "lastModified": {"actor": body["actor"], "time": millis}}
        self.comments.setdefault(post_urn, []).append(comment)
        return 201, comment, {"x-restli-id": comment_id}

    @route("GET", r"/rest/socialActions/(?P<urn>[^/]+)/comments")
    def list_comments(self, call: Call, urn: str):
        """The comments under a post, oldest first, paged by ``start``/``count``."""
        _, refused = self._member(call)
        if refused:
            return refused
        found = self.comments.get(unquote(urn), [])
        start, count = int(call.query.get("start", 0)), int(call.query.get("count", 10))
        return 200, {"elements": found[start:start + count],
                     "paging": {"start": start, "count": count, "total": len(found)}}

    # -- statistics ----------------------------------------------------------------------------------

    @route("GET", r"/rest/organizationalEntityShareStatistics")
    def share_statistics(self, call: Call):
        """``q=organizationalEntity`` with ``shares=List(...)`` or ``ugcPosts=List(...)``: lifetime totals."""
        member, refused = self._member(call)
        if refused:
            return refused
        entity = call.query.get("organizationalEntity", "")
        if call.query.get("q") != "organizationalEntity" or not self._admin_of(member, entity):
            return error(403, "Not enough permissions to access: organizationalEntityShareStatistics", 100)
        listed = call.query.get("shares") or call.query.get("ugcPosts") or ""
        found = re.fullmatch(r"List\((.*)\)", listed)
        urns = [item for item in (found[1].split(",") if found else []) if item]
        elements = []
        for urn in urns:
            post_urn = unquote(urn)
            counts = {"likeCount": 0, "shareCount": 0, "clickCount": 0, "impressionCount": 0,
                      "uniqueImpressionsCount": 0, "engagement": 0.0,
                      "commentCount": len(self.comments.get(post_urn, [])), **self.engagement.get(post_urn, {})}
            field = "ugcPost" if ":ugcPost:" in post_urn else "share"
            elements.append({"organizationalEntity": entity, field: post_urn, "totalShareStatistics": counts})
        return 200, {"elements": elements, "paging": {"start": 0, "count": 10, "links": []}}
