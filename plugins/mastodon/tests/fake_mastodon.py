"""A small Mastodon server on loopback, written from Mastodon's API documentation (see
docs/platforms/mastodon.md: docs.joinmastodon.org methods/accounts, methods/instance, methods/media,
methods/statuses, entities/Status, entities/Error, api/rate-limits), on Herald's :class:`FakeAPI`.

It answers with Mastodon's shapes and error bodies (``{"error": "..."}``):
``GET /api/v1/accounts/verify_credentials`` (with ``source.privacy``, the account's default visibility),
``GET /api/v2/instance`` (``configuration``: 500 characters, 4 media, links count 23),
``POST /api/v2/media`` (multipart; an image answers 200 with its ``url``, a video 202 with ``url: null``
until ``GET /api/v1/media/:id`` was asked ``processing_rounds`` times: 206 meanwhile),
``POST /api/v1/statuses`` (JSON; ``Idempotency-Key`` kept an hour per account: the same key answers the
status it created; Mastodon's validations: length, blank text, unprocessed media, a video with images,
more than 4 files), ``GET /api/v1/statuses/:id`` and ``GET /api/v1/statuses/:id/context``.

Faults a test injects: :meth:`FakeMastodon.rate_limit` (429 with the ``X-RateLimit-*`` headers),
:meth:`FakeMastodon.unavailable` (a 503 from the proxy in front of Mastodon), ``drop_after_create`` /
``drop_after_reply`` (the status is created, then the connection closes without an answer),
:meth:`FakeMastodon.revoke` (the token is revoked: 401), ``statuses_refused`` (a 422 with that reason),
and the base class's ``fail_next``, ``drop_next_answer`` and ``delay_next``.

For tests outside this folder (the all-platforms test): :func:`connect_request` is the body of
``POST /v1/accounts`` for alice on a fake, :data:`SETTINGS` / :data:`ENV` what Herald needs to reach a
fake on loopback, :meth:`FakeMastodon.published` and :meth:`FakeMastodon.replies` what was posted, and
:class:`HeraldMediaHost` serves a test application's public media links (the plugin downloads each file
from ``HERALD_PUBLIC_URL`` to upload it).
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import html
import itertools
import re

from herald.testing import FakeAPI, route

KEY_SECONDS = 3600
ALICE_TOKEN = "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0"  # an access token of alice
ALICE = {"id": "109000000000000001", "username": "alice", "acct": "alice"}
SETTINGS = {"mastodon_allow_private": True}  # herald_app_factory(**SETTINGS): the fake is on loopback
ENV = {"HERALD_MASTODON_ALLOW_PRIVATE": "1"}  # the same for `herald worker` processes
MAX_CHARACTERS = 500
MEDIA_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif", "image/avif",
               "video/mp4", "video/quicktime", "video/webm", "audio/mpeg", "audio/ogg"]
LINK = re.compile(r"https?://\S+")


def connect_request(fake, token=ALICE_TOKEN):
    """The body of ``POST /v1/accounts`` that connects alice's account on ``fake``."""
    return {"platform": "mastodon", "access_token": token, "details": {"server": fake.url}}


def now():
    return dt.datetime.now(dt.UTC)


def timestamp(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeMastodon(FakeAPI):
    """One server, its accounts (by token), statuses and media. Start it with ``with FakeMastodon() as fake``."""

    def __init__(self):
        super().__init__()
        self.tokens = {ALICE_TOKEN: dict(ALICE, privacy="public")}
        self.statuses: dict[str, dict] = {}
        self.media: dict[str, dict] = {}
        self.keys: dict[tuple[str, str], tuple[str, dt.datetime]] = {}
        self.max_characters = MAX_CHARACTERS  # configuration.statuses.max_characters
        self.processing_rounds = 1  # GET /api/v1/media/:id answers 206 this many times for a video
        self.drop_after_create = 0
        self.drop_after_reply = 0
        self.statuses_refused = None
        self._ids = itertools.count(110000000000000001)

    def start(self):
        """Listen on a free loopback port; ``url`` stays what it was after :meth:`stop`."""
        super().start()
        self.base = super().url
        return self

    @property
    def url(self):
        return self.base

    # -- what a test reads and injects ---------------------------------------------------------------

    def own_statuses(self, text=None):
        """The statuses posted (with ``text``, when given), oldest first."""
        return [status for status in self.statuses.values() if text is None or status["text"] == text]

    def published(self, account_id=ALICE["id"]):
        """The statuses ``account_id`` posted that are not replies, oldest first."""
        return [status for status in self.statuses.values()
                if status["account"]["id"] == account_id and status["in_reply_to_id"] is None]

    def replies(self, status_id, account_id=ALICE["id"]):
        """The replies ``account_id`` posted to ``status_id``, oldest first."""
        return [status for status in self.statuses.values()
                if status["in_reply_to_id"] == status_id and status["account"]["id"] == account_id]

    def add_reply(self, to_id, text, account=None):
        """A status of another account (or ``account``) replying to ``to_id``, as followers write them."""
        account = account or {"id": "109000000000000099", "username": "bob", "acct": "bob@elsewhere.test"}
        return self._create(account, {"status": text, "in_reply_to_id": to_id})

    def rate_limit(self, times=1, path=None, seconds=30):
        """Answer the next ``times`` requests 429, the limit resetting ``seconds`` from now."""
        reset = timestamp(now() + dt.timedelta(seconds=seconds))
        self.fail_next(429, {"error": "Too many requests"}, path=path, times=times, headers={
            "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})

    def unavailable(self, times=1, path=None):
        """Answer the next ``times`` requests 503 from the proxy in front of Mastodon (an HTML page)."""
        self.fail_next(503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", path=path,
                       times=times, headers={"Content-Type": "text/html"})

    def revoke(self, token=ALICE_TOKEN):
        """The user revoked the token (or the app): every call with it answers 401 from now on."""
        del self.tokens[token]

    # -- serving -------------------------------------------------------------------------------------

    def handle(self, call):
        answer, drop = super().handle(call)
        return answer, drop or getattr(call, "drop", False)

    def not_found(self, call):
        return 404, {"error": "Record not found"}

    def account_of(self, call):
        token = (call.header("Authorization") or "").removeprefix("Bearer ")
        return self.tokens.get(token)

    @route("GET", r"/api/v1/accounts/verify_credentials")
    def verify_credentials(self, call):
        account = self.account_of(call)
        if account is None:
            return 401, {"error": "The access token is invalid"}
        return 200, {**self._account(account), "display_name": account["username"].title(), "statuses_count": 0,
                     "source": {"privacy": account["privacy"], "sensitive": False, "language": "", "note": "",
                                "fields": []}}

    @route("GET", r"/api/v2/instance")
    def instance(self, call):  # public: no token needed
        return 200, {"domain": "127.0.0.1", "title": "Fake Mastodon", "version": "4.3.0", "configuration": {
            "urls": {"streaming": "ws://127.0.0.1"},
            "statuses": {"max_characters": self.max_characters, "max_media_attachments": 4,
                         "characters_reserved_per_url": 23},
            "media_attachments": {"supported_mime_types": MEDIA_TYPES, "image_size_limit": 16777216,
                                  "image_matrix_limit": 33177600, "video_size_limit": 103809024,
                                  "video_frame_rate_limit": 120, "video_matrix_limit": 8294400}}}

    @route("POST", r"/api/v2/media")
    def upload(self, call):
        account = self.account_of(call)
        if account is None:
            return 401, {"error": "The access token is invalid"}
        fields = multipart_fields(call)
        file = fields.get("file")
        if file is None or file[1] not in MEDIA_TYPES:
            return 422, {"error": "Validation failed: File content type is invalid, File is invalid"}
        content, content_type = file
        media_id = str(next(self._ids))
        kind = content_type.split("/")[0]
        item = {"id": media_id, "type": "gifv" if content_type == "image/gif" else kind, "url": None,
                "preview_url": f"{self.url}/system/media/{media_id}/small", "remote_url": None, "meta": {},
                "description": fields.get("description", (None,))[0], "blurhash": None,
                "account_id": account["id"], "status_id": None, "content": content, "content_type": content_type,
                "rounds_left": self.processing_rounds if kind == "video" else 0}
        self.media[media_id] = item
        if item["rounds_left"] == 0:
            item["url"] = f"{self.url}/system/media/{media_id}/original"
            return 200, self._public_media(item)
        return 202, self._public_media(item)

    @route("GET", r"/api/v1/media/(?P<media_id>\d+)")
    def get_media(self, call, media_id):
        account = self.account_of(call)
        if account is None:
            return 401, {"error": "The access token is invalid"}
        item = self.media.get(media_id)
        if item is None or item["account_id"] != account["id"]:
            return 404, {"error": "Record not found"}
        if item["rounds_left"] > 0:
            item["rounds_left"] -= 1
            if item["rounds_left"] == 0:
                item["url"] = f"{self.url}/system/media/{media_id}/original"
            return 206, b""
        return 200, self._public_media(item)

    @route("POST", r"/api/v1/statuses")
    def post_status(self, call):
        account = self.account_of(call)
        if account is None:
            return 401, {"error": "The access token is invalid"}
        form = call.json() or {}
        key = call.header("Idempotency-Key")
        kept = self.keys.get((account["id"], key)) if key else None
        if kept and (now() - kept[1]).total_seconds() < KEY_SECONDS:
            return 200, self._public(self.statuses[kept[0]])
        problem = self._refusal(account, form)
        if problem:
            return problem
        status = self._create(account, form)
        if key:
            self.keys[(account["id"], key)] = (status["id"], now())
        drop = "drop_after_reply" if status["in_reply_to_id"] else "drop_after_create"
        if getattr(self, drop):
            setattr(self, drop, getattr(self, drop) - 1)
            call.drop = True  # created, and the answer never leaves
        return 200, self._public(status)

    @route("GET", r"/api/v1/statuses/(?P<status_id>\d+)")
    def get_status(self, call, status_id):
        if self.account_of(call) is None:
            return 401, {"error": "The access token is invalid"}
        status = self.statuses.get(status_id)
        if status is None:
            return 404, {"error": "Record not found"}
        return 200, self._public(status)

    @route("GET", r"/api/v1/statuses/(?P<status_id>\d+)/context")
    def context(self, call, status_id):
        if self.account_of(call) is None:
            return 401, {"error": "The access token is invalid"}
        if status_id not in self.statuses:
            return 404, {"error": "Record not found"}
        return 200, {"ancestors": [], "descendants": [self._public(reply) for reply in self.statuses.values()
                                                      if reply["in_reply_to_id"] == status_id]}

    # -- Mastodon's rules ----------------------------------------------------------------------------

    def _refusal(self, account, form):
        text, media_ids = form.get("status") or "", form.get("media_ids") or []
        if self.statuses_refused:
            return 422, {"error": self.statuses_refused}
        if not text.strip() and not media_ids:
            return 422, {"error": "Validation failed: Text can't be blank"}
        counted = len(LINK.sub("x" * 23, (form.get("spoiler_text") or "") + text))
        if counted > self.max_characters:
            return 422, {"error": f"Validation failed: Text character limit of {self.max_characters} exceeded"}
        if form.get("in_reply_to_id") and form["in_reply_to_id"] not in self.statuses:
            return 404, {"error": "Record not found"}
        if form.get("visibility", "public") not in ("public", "unlisted", "private", "direct"):
            return 422, {"error": "Validation failed: Visibility is not included in the list"}
        items = [self.media.get(media_id) for media_id in media_ids]
        if any(item is None or item["account_id"] != account["id"] or item["status_id"] for item in items):
            return 404, {"error": "Record not found"}
        if len(items) > 4:
            return 422, {"error": "Cannot attach more than 4 files"}
        if len(items) > 1 and any(item["type"] == "video" for item in items):
            return 422, {"error": "Cannot attach a video to a post that already contains images"}
        if any(item["url"] is None for item in items):
            return 422, {"error": "Cannot attach files that have not finished processing. Try again in a moment!"}
        return None

    def _create(self, account, form):
        status_id = str(next(self._ids))
        reply_to = form.get("in_reply_to_id")
        text = form.get("status") or ""
        attached = [self.media[media_id] for media_id in form.get("media_ids") or []]
        for item in attached:
            item["status_id"] = status_id
        status = {
            "id": status_id, "created_at": timestamp(now()), "in_reply_to_id": reply_to,
            "in_reply_to_account_id": self.statuses[reply_to]["account"]["id"] if reply_to else None,
            "sensitive": bool(form.get("sensitive")), "spoiler_text": form.get("spoiler_text") or "",
            "visibility": form.get("visibility") or account.get("privacy", "public"),
            "language": form.get("language") or "en",
            "uri": f"{self.url}/users/{account['username']}/statuses/{status_id}",
            "url": f"{self.url}/@{account['username']}/{status_id}",
            "replies_count": 0, "reblogs_count": 0, "favourites_count": 0,
            "content": "<p>" + html.escape(text).replace("\n", "<br />") + "</p>",
            "account": self._account(account), "media_attachments": [self._public_media(item) for item in attached],
            "mentions": [], "tags": [], "emojis": [], "card": None, "poll": None,
            "text": text,  # not in Mastodon's answer (see _public): what the test reads back
        }
        self.statuses[status_id] = status
        if reply_to:
            self.statuses[reply_to]["replies_count"] += 1
        return status

    def _account(self, account):
        return {"id": account["id"], "username": account["username"], "acct": account["acct"],
                "url": f"{self.url}/@{account['username']}"}

    @staticmethod
    def _public(status):
        return {name: value for name, value in status.items() if name != "text"}

    @staticmethod
    def _public_media(item):
        return {name: value for name, value in item.items()
                if name not in ("account_id", "status_id", "content", "content_type", "rounds_left")}


def multipart_fields(call):
    """The fields of a ``multipart/form-data`` body: name -> (value, content type); text values decoded."""
    head = f"Content-Type: {call.header('Content-Type')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + call.body)
    fields = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True)
        if part.get_filename() is None:
            content = content.decode("utf-8")
        fields[name] = (content, part.get_content_type())
    return fields


class HeraldMediaHost(FakeAPI):
    """Herald's public media links (``HERALD_PUBLIC_URL/media/...``) served on loopback from a test's
    application, which the Flask test client cannot do: start it, make the application with
    ``public_url=host.url``, then set ``host.app``."""

    app = None

    @route("GET", r"/media/.+")
    def media(self, call):
        answer = self.app.test_client().get(call.path)
        return answer.status_code, answer.get_data(), {"Content-Type": answer.mimetype}
