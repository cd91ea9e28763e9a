"""Post records on an account's PDS: building one, creating it under Herald's key, reading it back.

The record key is the whole of "never twice": a repository holds at most one record per key, so a
create sent again with the same key cannot make a second post. The PDS refuses such a second create
with a bare 500 (docs/platforms/bluesky.md), which looks like any other failure; so after any create
that did not answer, the key is read back with ``getRecord``, and a record found there is ours only
if it is the one Herald sent (same text, same ``createdAt``).
"""

from __future__ import annotations

from typing import Any

from herald.sdk import MediaRef, http

from . import richtext
from .session import Account
from .settings import TIMEOUT
from .xrpc import XrpcError

COLLECTION = "app.bsky.feed.post"
MEDIA_READ_LIMIT = 4_000_000


class MediaUnreadable(Exception):
    """An image could not be downloaded from Herald's public link (tried again later)."""


def at_uri(did: str, rkey: str) -> str:
    """The AT URI of a post record."""
    return f"at://{did}/{COLLECTION}/{rkey}"


def split_uri(uri: str) -> tuple[str, str]:
    """``(did, rkey)`` of a post's AT URI."""
    did, collection, rkey = uri.removeprefix("at://").split("/")
    if collection != COLLECTION:
        raise ValueError(f"{uri} is not a Bluesky post")
    return did, rkey


def web_url(handle: str, rkey: str) -> str:
    """Where people see the post in the Bluesky app."""
    return f"https://bsky.app/profile/{handle}/post/{rkey}"


def get(account: Account, did: str, rkey: str) -> dict | None:
    """The record at ``rkey`` (``{"uri", "cid", "value"}``), or None when there is none
    (400 ``RecordNotFound``). Raises :class:`XrpcError` when the PDS cannot say."""
    try:
        return account.read("com.atproto.repo.getRecord", repo=did, collection=COLLECTION, rkey=rkey)
    except XrpcError as err:
        if err.status == 400 and err.error == "RecordNotFound":
            return None
        raise


def create(account: Account, did: str, rkey: str, record: dict) -> dict:
    """Create ``record`` under ``rkey``: ``{"uri", "cid"}``."""
    return account.call("POST", "com.atproto.repo.createRecord",
                        body={"repo": did, "collection": COLLECTION, "rkey": rkey, "record": record})


def is_same(found: dict, record: dict) -> bool:
    """Whether the record ``found`` at our key is the one we sent (text and creation time)."""
    value = found.get("value") or {}
    return value.get("text") == record["text"] and value.get("createdAt") == record["createdAt"]


def text_record(account: Account, text: str, created_at: str, langs: list[str] | None = None) -> dict:
    """A post record of ``text`` with its facets (mentions resolved to DIDs on the account's PDS)."""
    record: dict[str, Any] = {"$type": COLLECTION, "text": text, "createdAt": created_at}
    found = richtext.facets(text, lambda handle: resolve_handle(account, handle))
    if found:
        record["facets"] = found
    if langs:
        record["langs"] = list(langs)[:3]
    return record


def resolve_handle(account: Account, handle: str) -> str | None:
    """The DID of ``handle``, or None when it does not resolve (the mention stays plain text)."""
    try:
        return account.read("com.atproto.identity.resolveHandle", handle=handle)["did"]
    except XrpcError as err:
        if err.passing:
            raise
        return None


def images_embed(account: Account, config: Any, images: tuple[MediaRef, ...]) -> dict:
    """Upload each image (``uploadBlob``) and answer the ``app.bsky.embed.images`` embed. Blobs no
    record refers to are dropped by the PDS after a while, so each attempt uploads its own."""
    embedded = []
    for media in images:
        blob = account.call("POST", "com.atproto.repo.uploadBlob", blob=download(media, config),
                            content_type=media.content_type)["blob"]
        image: dict[str, Any] = {"image": blob, "alt": media.alt_text or ""}
        if media.width and media.height:
            image["aspectRatio"] = {"width": media.width, "height": media.height}
        embedded.append(image)
    return {"$type": "app.bsky.embed.images", "images": embedded}


def download(media: MediaRef, config: Any) -> bytes:
    """The image's bytes, from its signed link under ``HERALD_PUBLIC_URL`` (an address the operator set)."""
    try:
        answer = http.request("GET", media.url, headers={}, timeout=TIMEOUT.value(config))
    except (http.SendFailed, http.AnswerLost) as exc:
        raise MediaUnreadable(f"The image {media.id} could not be read from {media.url}: {exc}") from None
    if answer.status != 200 or len(answer.body) > MEDIA_READ_LIMIT:
        raise MediaUnreadable(f"The image {media.id} could not be read from {media.url} ({answer.status}).")
    return answer.body
