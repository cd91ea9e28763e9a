"""What Threads takes in a post, declared for the core's checker (docs/platforms/threads.md, "Limits").

Sources: Meta's Threads overview (image and video specifications), the "Threads Posts" guide (500
characters; carousels of 2 to 20 items) and the publishing reference (emojis count their UTF-8
bytes). Herald's API takes at most 10 media per post, so a carousel here has 2 to 10.
"""

from __future__ import annotations

import unicodedata

from herald.sdk import MediaRule, PostRef, PostRules, Ratio

MB = 1_000_000
MAX_TEXT = 500
SOURCE = "https://developers.facebook.com/docs/threads/overview"

IMAGE = MediaRule(content_types=("image/jpeg", "image/png"), convert=(("image/webp", "image/jpeg"),),
                  max_bytes=8 * MB, min_ratio=Ratio(1, 10), max_ratio=Ratio(10, 1), recommended_width=(320, 1440))
VIDEO = MediaRule(content_types=("video/mp4", "video/quicktime"), max_bytes=1000 * MB, min_ratio=Ratio(0.01, 1),
                  max_ratio=Ratio(10, 1), max_width=1920, max_duration=300, video_codecs=("h264", "hevc"),
                  audio_codecs=("aac",), min_frame_rate=23, max_frame_rate=60)
SINGLE = PostRules(max_caption=MAX_TEXT, min_media=0, max_media=1, image=IMAGE, video=VIDEO, source=SOURCE)
CAROUSEL = PostRules(max_caption=MAX_TEXT, min_media=2, max_media=20, image=IMAGE, video=VIDEO, source=SOURCE)


def rules_for(post: PostRef) -> PostRules:
    """The rules of ``post``: a carousel, or a post with several media (published as one), or a single post."""
    return CAROUSEL if post.post_type == "carousel" or len(post.media) > 1 else SINGLE


def is_emoji(char: str) -> bool:
    """Whether ``char`` is part of an emoji as Threads counts them: pictographs and symbols outside the
    Basic Multilingual Plane, other symbols (``So``), and the joiners and selectors inside sequences."""
    return ord(char) > 0xFFFF or unicodedata.category(char) == "So" or char in "\u200d\ufe0f\ufe0e" \
        or 0x1F3FB <= ord(char) <= 0x1F3FF


def length(text: str) -> int:
    """The text's length as Threads counts it against 500: one per character, an emoji's UTF-8 bytes."""
    return sum(len(char.encode()) if is_emoji(char) else 1 for char in text)


def text_problem(text: str) -> str | None:
    """Why Threads would refuse ``text`` (too long once emojis count their bytes), or None."""
    counted = length(text)
    if counted > MAX_TEXT:
        return (f"The text counts {counted} characters as Threads counts them (an emoji counts its UTF-8 bytes); "
                f"Threads takes {MAX_TEXT}.")
    return None
