"""Which Instagram media containers a post needs (research §2.2).

- ``post`` with one image: an image container (``image_url``, ``caption``);
- ``post`` with one video, or ``reel``: ``media_type=REELS`` with ``video_url`` (feed videos are
  published as reels since 2023);
- ``story``: ``media_type=STORIES`` with ``image_url`` or ``video_url`` (no caption);
- ``carousel``, or ``post`` with 2-10 media: one item container per media
  (``is_carousel_item=true``; videos with ``media_type=VIDEO``), then ``media_type=CAROUSEL`` with
  ``children`` and the caption.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from herald.sdk import MediaRef, PostRef


@dataclasses.dataclass(frozen=True)
class Plan:
    """The containers to create: ``single``, or ``children`` then a ``parent`` (a carousel)."""

    single: dict[str, Any] | None
    children: tuple[dict[str, Any], ...] = ()
    parent: dict[str, Any] | None = None
    has_video: bool = False
    is_story: bool = False


def _item(media: MediaRef) -> dict[str, Any]:
    if media.kind == "video":
        return {"media_type": "VIDEO", "video_url": media.url, "is_carousel_item": True}
    return {"image_url": media.url, "is_carousel_item": True}


def plan(post: PostRef) -> Plan:
    """The containers for a post that Instagram's rules accepted (:mod:`herald_instagram.rules`)."""
    caption = post.caption or None
    has_video = any(item.kind == "video" for item in post.media)
    first = post.media[0]
    if post.post_type == "story":
        source = {"video_url": first.url} if first.kind == "video" else {"image_url": first.url}
        return Plan(single={"media_type": "STORIES", **source}, has_video=has_video, is_story=True)
    if post.post_type == "carousel" or len(post.media) > 1:
        return Plan(single=None, children=tuple(_item(item) for item in post.media),
                    parent={"media_type": "CAROUSEL", "caption": caption}, has_video=has_video)
    if first.kind == "video":
        return Plan(single={"media_type": "REELS", "video_url": first.url, "caption": caption,
                            "share_to_feed": True}, has_video=True)
    return Plan(single={"image_url": first.url, "caption": caption})
