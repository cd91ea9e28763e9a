"""A small Mastodon server on loopback, written from Mastodon's API documentation
(docs.joinmastodon.org: methods/accounts, methods/statuses, entities/Status, api/rate-limits).

It answers what the plugin calls, with Mastodon's shapes and error bodies (``{"error": "..."}``):
``GET /api/v1/accounts/verify_credentials``, ``POST /api/v1/statuses`` (JSON; ``Idempotency-Key``
kept an hour per account: the same key answers the status it created), ``GET /api/v1/statuses/:id``
and ``GET /api/v1/statuses/:id/context``. A test injects faults: ``rate_limited`` (429 with the
``X-RateLimit-*`` headers), ``drop_after_create`` (the status is created, then the connection is
closed without an answer), ``drop_after_reply`` (the same for a reply), ``statuses_refused`` (a
422 with that reason for every new status), ``hold`` (answers wait until the event is set).
"""

from __future__ import annotations

import datetime as dt
import html
import http.server
import itertools
import json
import re
import threading
from urllib.parse import urlparse

KEY_SECONDS = 3600
ALICE_TOKEN = "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0"  # an access token of alice


class FakeMastodon:
    """One server, its accounts (by token) and its statuses."""

    def __init__(self):
        self.tokens = {ALICE_TOKEN: {"id": "109000000000000001", "username": "alice", "acct": "alice"}}
        self.statuses: dict[str, dict] = {}
        self.keys: dict[tuple[str, str], tuple[str, dt.datetime]] = {}
        self.requests: list[tuple[str, str]] = []
        self.rate_limited = False
        self.drop_after_create = 0
        self.drop_after_reply = 0
        self.statuses_refused = None
        self.hold: threading.Event | None = None
        self._ids = itertools.count(110000000000000001)
        self._lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        """Stop serving (and let any held answer go)."""
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def own_statuses(self, text=None):
        """The statuses posted (with ``text``, when given), oldest first."""
        return [status for status in self.statuses.values() if text is None or status["text"] == text]

    def add_reply(self, to_id, text, account=None):
        """A status of another account (or ``account``) replying to ``to_id``, as followers write them."""
        account = account or {"id": "109000000000000099", "username": "bob", "acct": "bob@elsewhere.test"}
        return self._create(account, text, to_id)

    def _create(self, account, text, in_reply_to_id=None):
        status_id = str(next(self._ids))
        status = {
            "id": status_id, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"), "in_reply_to_id": in_reply_to_id,
            "in_reply_to_account_id": self.statuses[in_reply_to_id]["account"]["id"] if in_reply_to_id else None,
            "sensitive": False, "spoiler_text": "", "visibility": "public", "language": "en",
            "uri": f"{self.url}/users/{account['username']}/statuses/{status_id}",
            "url": f"{self.url}/@{account['username']}/{status_id}",
            "replies_count": 0, "reblogs_count": 0, "favourites_count": 0,
            "content": "<p>" + html.escape(text).replace("\n", "<br />") + "</p>",
            "account": {**account, "url": f"{self.url}/@{account['username']}"},
            "media_attachments": [], "mentions": [], "tags": [], "emojis": [],
            "text": text,  # not in Mastodon's answer (see _public): what the test reads back
        }
        self.statuses[status_id] = status
        if in_reply_to_id:
            self.statuses[in_reply_to_id]["replies_count"] += 1
        return status

    @staticmethod
    def _public(status):
        return {name: value for name, value in status.items() if name != "text"}

    def _handler(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json; charset=utf-8", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def account(self):
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                return fake.tokens.get(token)

            def handle_call(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlparse(self.path).path
                fake.requests.append((method, path))
                if fake.hold is not None:
                    fake.hold.wait(10)
                if fake.rate_limited:
                    reset = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
                    return self.answer(429, {"error": "Too many requests"}, {
                        "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
                account = self.account()
                if account is None:
                    return self.answer(401, {"error": "The access token is invalid"})
                with fake._lock:
                    return self.route(method, path, account, body)

            def route(self, method, path, account, body):
                if method == "GET" and path == "/api/v1/accounts/verify_credentials":
                    return self.answer(200, {**account, "display_name": account["username"].title(),
                                             "url": f"{fake.url}/@{account['username']}", "statuses_count": 0})
                if method == "POST" and path == "/api/v1/statuses":
                    return self.post_status(account, body)
                found = re.fullmatch(r"/api/v1/statuses/(\d+)(/context)?", path)
                if method == "GET" and found:
                    status = fake.statuses.get(found[1])
                    if status is None:
                        return self.answer(404, {"error": "Record not found"})
                    if found[2]:
                        return self.answer(200, {"ancestors": [], "descendants": [
                            fake._public(reply) for reply in fake.statuses.values()
                            if reply["in_reply_to_id"] == status["id"]]})
                    return self.answer(200, fake._public(status))
                return self.answer(404, {"error": "Record not found"})

            def post_status(self, account, body):
                form = json.loads(body or b"{}")
                text = form.get("status") or ""
                if fake.statuses_refused:
                    return self.answer(422, {"error": fake.statuses_refused})
                if not text.strip():
                    return self.answer(422, {"error": "Validation failed: Text can't be blank"})
                if len(text) > 500:
                    return self.answer(422, {"error": "Validation failed: Text character limit of 500 exceeded"})
                if form.get("in_reply_to_id") and form["in_reply_to_id"] not in fake.statuses:
                    return self.answer(404, {"error": "Record not found"})
                key = self.headers.get("Idempotency-Key")
                now = dt.datetime.now(dt.UTC)
                kept = fake.keys.get((account["id"], key)) if key else None
                if kept and (now - kept[1]).total_seconds() < KEY_SECONDS:
                    return self.answer(200, fake._public(fake.statuses[kept[0]]))
                status = fake._create(account, text, form.get("in_reply_to_id"))
                if key:
                    fake.keys[(account["id"], key)] = (status["id"], now)
                drop = "drop_after_reply" if status["in_reply_to_id"] else "drop_after_create"
                if getattr(fake, drop):
                    setattr(fake, drop, getattr(fake, drop) - 1)
                    self.close_connection = True
                    self.connection.shutdown(2)  # created, and the answer never leaves
                    return None
                return self.answer(200, fake._public(status))

            def do_GET(self):
                self.handle_call("GET")

            def do_POST(self):
                self.handle_call("POST")

        return Handler
