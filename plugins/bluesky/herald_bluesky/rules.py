"""What a Bluesky post takes, for the dry run and before sending (docs/platforms/bluesky.md).

At most 4 images (``app.bsky.embed.images``), each up to 2,000,000 bytes (the lexicon's ``maxSize``;
formerly 1,000,000, so more than that is a warning: a PDS not yet updated refuses it). Videos are not
published by this plugin (Bluesky's video service has its own upload flow). The text's limit is in
graphemes and bytes, which :class:`herald.sdk.PostRules` cannot say: :func:`post_problem` checks it.
"""

from __future__ import annotations

from herald.sdk import MediaRule, PostRef, PostRules

from . import richtext

MAX_IMAGES = 4
IMAGE_BYTES = 2_000_000
OLD_IMAGE_BYTES = 1_000_000
RULES = PostRules(
    max_media=MAX_IMAGES,
    image=MediaRule(content_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
                    max_bytes=IMAGE_BYTES, recommended_max_bytes=OLD_IMAGE_BYTES),
    source="https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/embed/images.json")


def post_problem(post: PostRef) -> str | None:
    """Why Bluesky could never take ``post`` as it is, or None."""
    if post.post_type not in ("post", "carousel"):
        return f"Bluesky takes posts (with up to {MAX_IMAGES} images), not a {post.post_type}."
    if any(media.kind != "image" for media in post.media):
        return "Herald publishes images to Bluesky, not videos."
    if not post.media and not post.caption.strip():
        return "The post has no text and no image to publish."
    return richtext.too_long(post.caption)
