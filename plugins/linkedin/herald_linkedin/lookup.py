"""Finding an earlier attempt's post on the Page after a crash or a lost answer.

LinkedIn keeps no idempotency key, so Herald reads the organisation's posts newest first
(``GET /rest/posts?author=…&q=author&sortBy=CREATED``, ``start``/``count`` paging) within the time the
recorded attempts bound, and keeps the posts with the text it sent (and, for an image post, the very
images it uploaded: their URNs are the task's own). It reads on until posts older than the window,
never "the newest N"; a list it cannot read to the end raises :class:`Undecided`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from herald_linkedin.client import LinkedInClient
from herald_linkedin.text import same_text, unescape

PAGE_SIZE = 50
MAX_PAGES = 40  # 2,000 posts inside one attempt's window: past that Herald cannot decide


class Undecided(Exception):
    """The Page's posts could not be read to the end of the window."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def created_at(item: dict[str, Any]) -> dt.datetime | None:
    """When a post was created (``createdAt``, milliseconds since the epoch)."""
    value = item.get("createdAt") or item.get("publishedAt")
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC) if isinstance(value, int | float) else None


def window(client: LinkedInClient, author: str, since: dt.datetime, until: dt.datetime) -> Iterator[dict[str, Any]]:
    """Every post of ``author`` created between ``since`` and ``until``, newest first, each once."""
    seen: set[str] = set()
    for page in range(MAX_PAGES):
        data = client.get("posts", author=author, q="author", count=PAGE_SIZE, start=page * PAGE_SIZE,
                          sortBy="CREATED").data or {}
        elements = data.get("elements") or []
        for item in elements:
            created = created_at(item)
            if created is not None and created < since:
                return  # newest first: the rest is older still
            if (created is None or created <= until) and item.get("id") not in seen:
                seen.add(item.get("id"))
                yield item
        if len(elements) < PAGE_SIZE:
            return
    raise Undecided(f"more than {MAX_PAGES * PAGE_SIZE} posts fall within the attempts' time")


def image_urns(item: dict[str, Any]) -> list[str]:
    """The images a post shows (``content.media`` or ``content.multiImage``)."""
    content = item.get("content") or {}
    if (content.get("media") or {}).get("id"):
        return [content["media"]["id"]]
    return [image.get("id") for image in (content.get("multiImage") or {}).get("images") or []]


def matches(client: LinkedInClient, author: str, caption: str, images: list[str], since: dt.datetime,
            until: dt.datetime) -> list[dict[str, Any]]:
    """The posts in the window that are the attempt's: its text, and its images when it had some."""
    return [item for item in window(client, author, since, until)
            if same_text(unescape(item.get("commentary") or ""), caption)
            and (not images or image_urns(item) == images)]
