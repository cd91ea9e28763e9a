"""A Bluesky PDS (and the AppView's ``getPosts``) on loopback, written from docs/platforms/bluesky.md:
the lexicons and the PDS code of bluesky-social/atproto, https://docs.bsky.app/docs/advanced-guides/posts,
/post-richtext and /rate-limits.

State: accounts (handle, DID, app passwords), sessions (access tokens of 2 hours that a test can expire,
refresh tokens that rotate: a used one is revoked), blobs per account, and records keyed by (DID,
collection, rkey), with like/repost/reply/quote counts for ``getPosts``. Answers are XRPC's:
``{"error", "message"}`` with the PDS's statuses: 401 ``AuthenticationRequired`` for a wrong password,
400 ``ExpiredToken`` / ``InvalidToken`` for tokens, 400 ``RecordNotFound`` from ``getRecord``, 400
``InvalidRequest`` for a record the lexicon refuses, and a bare 500 for a create at a key that is taken
(the MST's plain error, which the PDS does not name).

Faults, besides :class:`herald.testing.FakeAPI`'s (``fail_next``, ``drop_next_answer``): ``rate_limit_next``
(429 with ``RateLimit-*`` headers), ``expire_access_tokens`` (every access token answers ``ExpiredToken``),
``revoke_app_password``.

For a test connecting an account through Herald: :data:`HANDLE`, :data:`APP_PASSWORD` and :data:`DID`,
:func:`connect_body` (the body of ``POST /v1/accounts``), :func:`env` / :func:`settings` (the plugin's
settings pointing at the fake), and :meth:`FakeBluesky.posts` / :meth:`FakeBluesky.replies`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import re
import time

import regex

from herald.testing import Call, FakeAPI, route

HANDLE = "alice.bsky.social"
DID = "did:plc:alice4herald0000000000000"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
OTHER_HANDLE = "bob.example.com"
OTHER_DID = "did:plc:bob0herald00000000000000"
POST = "app.bsky.feed.post"
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
MAX_BLOB_BYTES = 2_000_000  # app.bsky.embed.images: maxSize


def connect_body(handle: str = HANDLE, password: str = APP_PASSWORD) -> dict:
    """The body of ``POST /v1/accounts`` that connects the fake's account (on the default PDS: point
    ``HERALD_BLUESKY_PDS_URL`` at the fake, see :func:`env`)."""
    return {"platform": "bluesky", "access_token": f"{handle}:{password}"}


def settings(fake: FakeBluesky) -> dict[str, str]:
    """The plugin's settings for ``herald_app_factory`` / ``with_changes``: the PDS and the AppView are the fake."""
    return {"bluesky_pds_url": fake.url, "bluesky_appview_url": fake.url}


def env(fake: FakeBluesky) -> dict[str, str]:
    """The same as environment variables, for ``herald worker`` processes."""
    return {"HERALD_BLUESKY_PDS_URL": fake.url, "HERALD_BLUESKY_APPVIEW_URL": fake.url}


def _error(status: int, name: str, message: str):
    return status, {"error": name, "message": message}


def _cid(data: bytes, prefix: str = "bafyrei") -> str:
    return prefix + base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")


class FakeBluesky(FakeAPI):
    """One PDS with two accounts (alice, who connects, and bob, who can be mentioned and reply)."""

    def __init__(self):
        super().__init__()
        self.accounts = {HANDLE: {"did": DID, "passwords": {APP_PASSWORD}},
                         OTHER_HANDLE: {"did": OTHER_DID, "passwords": set()}}
        self.access: dict[str, dict] = {}  # token -> {"did", "expired"}
        self.refresh: dict[str, dict] = {}  # token -> {"did", "revoked"}
        self.blobs: dict[str, dict] = {}  # cid -> {"did", "mimeType", "size"}
        self.records: dict[tuple[str, str, str], dict] = {}  # (did, collection, rkey) -> {"value", "cid", counts}
        self._serial = itertools.count(1)

    # -- what tests read ----------------------------------------------------------------------------

    def posts(self, did: str = DID) -> list[dict]:
        """The account's posts that are not replies (``{"uri", "rkey", "value"}``), oldest key first."""
        return [item for item in self._own(did) if "reply" not in item["value"]]

    def replies(self, did: str = DID, to: str | None = None) -> list[dict]:
        """The account's replies (to the post ``to``, when given)."""
        return [item for item in self._own(did) if "reply" in item["value"]
                and (to is None or item["value"]["reply"]["parent"]["uri"] == to)]

    def _own(self, did: str) -> list[dict]:
        return [{"uri": f"at://{did}/{POST}/{rkey}", "rkey": rkey, "value": stored["value"]}
                for (owner, collection, rkey), stored in sorted(self.records.items())
                if owner == did and collection == POST]

    def engage(self, uri: str, *, likes: int = 0, reposts: int = 0, replies: int = 0, quotes: int = 0) -> None:
        """What people did with a post meanwhile (``getPosts`` answers these counts)."""
        did, collection, rkey = uri.removeprefix("at://").split("/")
        self.records[(did, collection, rkey)].update(likeCount=likes, repostCount=reposts, replyCount=replies,
                                                     quoteCount=quotes)

    # -- faults -------------------------------------------------------------------------------------

    def rate_limit_next(self, path: str | None = None, *, seconds: int = 30, times: int = 1) -> None:
        """The next matching request answers 429 with the PDS's rate-limit headers (reset ``seconds`` on)."""
        self.fail_next(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, path=path, times=times,
                       headers={"RateLimit-Limit": "5000", "RateLimit-Remaining": "0",
                                "RateLimit-Reset": str(int(time.time()) + seconds), "RateLimit-Policy": "5000;w=3600"})

    def expire_access_tokens(self) -> None:
        """Two hours pass: every access token answers 400 ``ExpiredToken``."""
        for token in self.access.values():
            token["expired"] = True

    def revoke_app_password(self, handle: str = HANDLE) -> None:
        """The user revokes Herald's app password: sign-ins fail and its sessions end."""
        did = self.accounts[handle]["did"]
        self.accounts[handle]["passwords"].clear()
        for table in (self.access, self.refresh):
            for token in [key for key, value in table.items() if value["did"] == did]:
                del table[token]

    # -- sessions -----------------------------------------------------------------------------------

    def _session(self, did: str) -> dict:
        handle = next(name for name, account in self.accounts.items() if account["did"] == did)
        serial = next(self._serial)
        access, refresh = f"access-{serial}-{did}", f"refresh-{serial}-{did}"
        self.access[access] = {"did": did, "expired": False}
        self.refresh[refresh] = {"did": did, "revoked": False}
        return {"did": did, "handle": handle, "accessJwt": access, "refreshJwt": refresh, "active": True}

    def _bearer(self, call: Call) -> str:
        return (call.header("Authorization") or "").removeprefix("Bearer ").strip()

    def _authed(self, call: Call):
        """The DID of the request's access token, or the error answer."""
        token = self.access.get(self._bearer(call))
        if not self._bearer(call):
            return None, _error(401, "AuthMissing", "Authentication Required")
        if token is None:
            return None, _error(400, "InvalidToken", "Token could not be verified")
        if token["expired"]:
            return None, _error(400, "ExpiredToken", "Token has expired")
        return token["did"], None

    def _did_of(self, repo: str) -> str | None:
        if repo.startswith("did:"):
            return repo if any(account["did"] == repo for account in self.accounts.values()) else None
        account = self.accounts.get(repo.lower())
        return account["did"] if account else None

    @route("POST", r"/xrpc/com\.atproto\.server\.createSession")
    def create_session(self, call: Call):
        body = call.json() or {}
        did = self._did_of(str(body.get("identifier", "")).removeprefix("@"))
        handle = next((name for name, account in self.accounts.items() if account["did"] == did), None)
        if did is None or body.get("password") not in self.accounts[handle]["passwords"]:
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        return 200, self._session(did)

    @route("POST", r"/xrpc/com\.atproto\.server\.refreshSession")
    def refresh_session(self, call: Call):
        token = self.refresh.get(self._bearer(call))
        if token is None:
            return _error(400, "InvalidToken", "Token could not be verified")
        if token["revoked"]:
            return _error(400, "ExpiredToken", "Token has been revoked")
        token["revoked"] = True  # refresh tokens rotate
        return 200, self._session(token["did"])

    @route("GET", r"/xrpc/com\.atproto\.server\.getSession")
    def get_session(self, call: Call):
        did, refused = self._authed(call)
        if refused:
            return refused
        return 200, {"did": did, "handle": next(n for n, a in self.accounts.items() if a["did"] == did)}

    # -- identity, blobs, records -------------------------------------------------------------------

    @route("GET", r"/xrpc/com\.atproto\.identity\.resolveHandle")
    def resolve_handle(self, call: Call):
        handle = call.query.get("handle", "")
        did = None if handle.startswith("did:") else self._did_of(handle)
        if did is None:
            return _error(400, "InvalidRequest", "Unable to resolve handle")
        return 200, {"did": did}

    @route("POST", r"/xrpc/com\.atproto\.repo\.uploadBlob")
    def upload_blob(self, call: Call):
        did, refused = self._authed(call)
        if refused:
            return refused
        cid = _cid(call.body, "bafkrei")
        mime = call.header("Content-Type") or "application/octet-stream"
        self.blobs[cid] = {"did": did, "mimeType": mime, "size": len(call.body)}
        return 200, {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(call.body)}}

    @route("POST", r"/xrpc/com\.atproto\.repo\.createRecord")
    def create_record(self, call: Call):
        did, refused = self._authed(call)
        if refused:
            return refused
        body = call.json() or {}
        if self._did_of(str(body.get("repo", ""))) != did:
            return _error(401, "AuthRequired", "Authentication Required")
        collection, record = body.get("collection"), body.get("record")
        rkey = body.get("rkey") or self._new_tid()
        if not TID.match(rkey):
            return _error(400, "InvalidRequest", f"Invalid record key: {rkey}")
        problem = self._invalid(did, collection, record)
        if problem:
            return _error(400, "InvalidRequest", problem)
        if (did, collection, rkey) in self.records:  # the MST refuses a second leaf: a plain Error, a bare 500
            return _error(500, "InternalServerError", "Internal Server Error")
        cid = _cid(json.dumps(record, sort_keys=True).encode())
        self.records[(did, collection, rkey)] = {"value": record, "cid": cid, "likeCount": 0, "repostCount": 0,
                                                 "replyCount": 0, "quoteCount": 0,
                                                 "indexedAt": dt.datetime.now(dt.UTC).isoformat()}
        parent = ((record.get("reply") or {}).get("parent") or {}).get("uri")
        if parent:
            self.records[tuple(parent.removeprefix("at://").split("/"))]["replyCount"] += 1
        return 200, {"uri": f"at://{did}/{collection}/{rkey}", "cid": cid,
                     "commit": {"cid": _cid(cid.encode()), "rev": self._new_tid()}, "validationStatus": "valid"}

    def _invalid(self, did: str, collection: str, record) -> str | None:
        """What the app.bsky.feed.post lexicon refuses in ``record`` (None: valid)."""
        if collection != POST or not isinstance(record, dict) or record.get("$type") != POST:
            return "Invalid $type: must be app.bsky.feed.post"
        text = record.get("text")
        if not isinstance(text, str) or "createdAt" not in record:
            return "Record must have the properties \"text\" and \"createdAt\""
        if len(text.encode()) > 3000 or len(regex.findall(r"\X", text)) > 300:
            return "Record/text must not be longer than 300 graphemes"
        for facet in record.get("facets", []):
            index = facet["index"]
            if not 0 <= index["byteStart"] < index["byteEnd"] <= len(text.encode()):
                return "Record/facets/index is out of the text"
        embed = record.get("embed")
        if embed is not None:
            images = embed.get("images") if embed.get("$type") == "app.bsky.embed.images" else None
            if not isinstance(images, list) or len(images) > 4:
                return "Record/embed/images must not have more than 4 elements"
            for image in images:
                blob = self.blobs.get(((image.get("image") or {}).get("ref") or {}).get("$link"))
                if "alt" not in image or blob is None or blob["did"] != did:
                    return "Record/embed/images: image must have the properties \"image\" and \"alt\""
                if blob["size"] > MAX_BLOB_BYTES or not blob["mimeType"].startswith("image/"):
                    return "Record/embed/images/image: blob too large or not an image"
        return None

    def _new_tid(self) -> str:
        value = (int(time.time() * 1_000_000) << 10) | next(self._serial) % 1024
        return "".join(ALPHABET[(value >> (5 * index)) & 31] for index in reversed(range(13)))

    @route("GET", r"/xrpc/com\.atproto\.repo\.getRecord")
    def get_record(self, call: Call):
        did = self._did_of(call.query.get("repo", ""))
        key = (did, call.query.get("collection"), call.query.get("rkey"))
        uri = f"at://{call.query.get('repo')}/{key[1]}/{key[2]}"
        if did is None or key not in self.records:
            return _error(400, "RecordNotFound", f"Could not locate record: {uri}")
        stored = self.records[key]
        return 200, {"uri": f"at://{did}/{key[1]}/{key[2]}", "cid": stored["cid"], "value": stored["value"]}

    @route("GET", r"/xrpc/app\.bsky\.feed\.getPosts")
    def get_posts(self, call: Call):
        uris = [call.query["uris"]] if call.query.get("uris") else []
        posts = []
        for uri in uris:
            did, collection, rkey = uri.removeprefix("at://").split("/")
            stored = self.records.get((did, collection, rkey))
            if stored is None:
                continue  # not indexed (or gone): simply absent
            handle = next(name for name, account in self.accounts.items() if account["did"] == did)
            posts.append({"uri": uri, "cid": stored["cid"], "author": {"did": did, "handle": handle},
                          "record": stored["value"], "indexedAt": stored["indexedAt"],
                          **{name: stored[name] for name in ("likeCount", "repostCount", "replyCount", "quoteCount")}})
        return 200, {"posts": posts}

    def not_found(self, call: Call):
        """XRPC's answer for a method the server does not implement."""
        return _error(501, "MethodNotImplemented", "Method Not Implemented")
