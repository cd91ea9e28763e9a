"""What Instagram takes in each post type, as Meta documents it, declared for the core's checker.

Sources: Meta's "IG User Media" reference (``POST /{ig-user-id}/media``, image and video
specifications and limitations: captions of 2,200 characters, 30 hashtags, 20 @-tags; JPEG images
of at most 8 MB, aspect ratio 4:5 to 1.91:1, shown 320 to 1440 px wide; reels MOV/MP4, HEVC or
H.264 with AAC sound, 23-60 fps, at most 1920 px wide, 3 s to 15 min, 300 MB; story videos 3 to
60 s, 100 MB), Meta's "Content Publishing" guide (JPEG only; carousels of 2 to 10 items) and error
codes 2207010 / 2207040 / 2207028 / 2207009 (see /work/shared/research/platform-apis.md §2.2, and
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media).
Carousel videos follow Meta's feed-video specifications (3 to 60 s, 100 MB, 4:5 to 16:9).

Instagram rescales images outside 320-1440 px itself, so the width only warns. PNG and WebP images
are converted to JPEG for Instagram by Herald (the other platforms keep the original).
"""

from __future__ import annotations

from herald.sdk import MediaRule, PostRef, PostRules, Ratio

MB = 1_000_000
MAX_CAROUSEL = 10
CAPTION = {"max_caption": 2200, "max_hashtags": 30, "max_mentions": 20}
TO_JPEG = (("image/png", "image/jpeg"), ("image/webp", "image/jpeg"))
VIDEO_TYPES = ("video/mp4", "video/quicktime")
VIDEO_FORMAT = {"content_types": VIDEO_TYPES, "video_codecs": ("h264", "hevc"), "audio_codecs": ("aac",),
                "min_frame_rate": 23, "max_frame_rate": 60, "max_width": 1920}

FEED_IMAGE = MediaRule(content_types=("image/jpeg",), convert=TO_JPEG, max_bytes=8 * MB, min_ratio=Ratio(4, 5),
                       max_ratio=Ratio(1.91, 1), recommended_width=(320, 1440))
STORY_IMAGE = MediaRule(content_types=("image/jpeg",), convert=TO_JPEG, max_bytes=8 * MB,
                        recommended_width=(320, 1440))
REEL_VIDEO = MediaRule(**VIDEO_FORMAT, max_bytes=300 * MB, min_duration=3, max_duration=15 * 60,
                       min_ratio=Ratio(0.01, 1), max_ratio=Ratio(10, 1))
STORY_VIDEO = MediaRule(**VIDEO_FORMAT, max_bytes=100 * MB, min_duration=3, max_duration=60,
                        min_ratio=Ratio(0.1, 1), max_ratio=Ratio(10, 1))
CAROUSEL_VIDEO = MediaRule(**VIDEO_FORMAT, max_bytes=100 * MB, min_duration=3, max_duration=60,
                           min_ratio=Ratio(4, 5), max_ratio=Ratio(16, 9))

SOURCE = "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media"
REEL = PostRules(**CAPTION, min_media=1, max_media=1, video=REEL_VIDEO, source=SOURCE)
STORY = PostRules(min_media=1, max_media=1, image=STORY_IMAGE, video=STORY_VIDEO, shows_caption=False, source=SOURCE)
CAROUSEL = PostRules(**CAPTION, min_media=2, max_media=MAX_CAROUSEL, image=FEED_IMAGE, video=CAROUSEL_VIDEO,
                     source=SOURCE)
# One image is a feed post; one video is published as a reel (feed videos are reels since 2023).
SINGLE = PostRules(**CAPTION, min_media=1, max_media=1, image=FEED_IMAGE, video=REEL_VIDEO, source=SOURCE)


def rules_for(post: PostRef) -> PostRules:
    """The rules of ``post``'s type; a ``post`` with several media is published as a carousel."""
    if post.post_type == "reel":
        return REEL
    if post.post_type == "story":
        return STORY
    if post.post_type == "carousel" or len(post.media) > 1:
        return CAROUSEL
    return SINGLE
