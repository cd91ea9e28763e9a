"""What a LinkedIn Page post takes, for Herald's dry run and its checks before queueing.

3,000 characters of text; one image, or 2 to 20 as a multi-image post (LinkedIn's MultiImage API);
JPEG, PNG or GIF (a WebP is handed over as a JPEG copy) of at most 36,152,320 pixels. Video is not
published by this plugin yet. Sources in docs/platforms/linkedin.md.
"""

from __future__ import annotations

from herald.sdk import MediaRule, PostRef, PostRules
from herald_linkedin.text import MAX_COMMENTARY

MAX_IMAGES = 20
MAX_PIXELS = 36_152_320
SOURCE = "https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/multiimage-post-api"

IMAGE = MediaRule(content_types=("image/jpeg", "image/png", "image/gif"), convert=(("image/webp", "image/jpeg"),))
RULES = PostRules(max_caption=MAX_COMMENTARY, max_media=MAX_IMAGES, image=IMAGE, source=SOURCE)
# Several images are one multi-image post: Herald calls that post type a carousel.
CAROUSEL = PostRules(max_caption=MAX_COMMENTARY, min_media=2, max_media=MAX_IMAGES, image=IMAGE, source=SOURCE)


def rules_for(post: PostRef) -> PostRules:
    """The rules of ``post``'s type."""
    return CAROUSEL if post.post_type == "carousel" else RULES


def post_problem(post: PostRef) -> str | None:
    """Why a Page could never take ``post`` as it is, or None."""
    if post.post_type not in ("post", "carousel"):
        return f"LinkedIn Pages take posts and multi-image posts, not a {post.post_type}."
    if any(media.kind == "video" for media in post.media):
        return "Herald does not publish videos to LinkedIn yet: post images, or the text alone."
    if not post.media and not post.caption.strip():
        return "The post has no text and no image to publish."
    for media in post.media:
        if media.width and media.height and media.width * media.height > MAX_PIXELS:
            return (f"{media.id} has {media.width * media.height:,} pixels; LinkedIn takes images of at most "
                    f"{MAX_PIXELS:,} pixels (width × height).")
    return None
