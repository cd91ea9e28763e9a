"""What a Mastodon server takes in a status: its length as Mastodon counts it, media counts, formats
and sizes. Mastodon's defaults are the dry run's rules; the limits of the account's own server,
read from ``GET /api/v2/instance`` when the account is connected, are checked again before sending.

Sources (see docs/platforms/mastodon.md): https://docs.joinmastodon.org/entities/Instance/#configuration
(``max_characters`` 500, ``max_media_attachments`` 4, ``characters_reserved_per_url`` 23,
``supported_mime_types``, ``image_size_limit``, ``video_size_limit``), Mastodon's
``StatusLengthValidator`` (the content warning counts with the text; a URL counts 23; a mention
``@user@domain`` counts as ``@user``) and its media validations (4 images, or 1 video alone).
"""

import re

from herald.sdk import MediaRule, PostRules

SOURCE = "https://docs.joinmastodon.org/entities/Instance/#configuration"
MB = 1024 * 1024
DEFAULTS = {"max_characters": 500, "max_media_attachments": 4, "characters_reserved_per_url": 23,
            "image_size_limit": 16 * MB, "video_size_limit": 99 * MB, "supported_mime_types": []}
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif", "image/avif")
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")

LINK = re.compile(r"https?://\S+")
REMOTE_MENTION = re.compile(r"(?<![\w@])(@\w+)@[\w.-]*\w")


def length(text, per_url=23):
    """The length Mastodon counts, or a little more: every link counts ``per_url`` characters and a
    mention of someone on another server only its ``@name``."""
    return len(REMOTE_MENTION.sub(r"\1", LINK.sub("x" * per_url, text)))


def status_length(post, per_url=23):
    """What counts toward a status's limit: its text and its content warning (``spoiler_text``)."""
    return length(post.caption or "", per_url) + length(post.options.get("spoiler_text") or "", per_url)


def limits_of(instance):
    """The limits in a ``GET /api/v2/instance`` answer, Mastodon's defaults where it says nothing."""
    configuration = instance.get("configuration") if isinstance(instance, dict) else None
    found = dict(DEFAULTS)
    for section in ("statuses", "media_attachments"):
        values = (configuration or {}).get(section) or {}
        found.update({name: values[name] for name in DEFAULTS if name in values})
    return found


def post_rules(post, limits=DEFAULTS):
    """The :class:`PostRules` of ``post`` under ``limits``: up to ``max_media_attachments`` images, or one
    video on its own (several media take no video). The text is counted by :func:`too_long` (a link
    counts 23, which a table cannot say)."""
    image = MediaRule(content_types=IMAGE_TYPES, max_bytes=limits["image_size_limit"])
    video = MediaRule(content_types=VIDEO_TYPES, max_bytes=limits["video_size_limit"])
    alone = len(post.media) <= 1
    return PostRules(max_media=limits["max_media_attachments"], image=image, video=video if alone else None,
                     source=SOURCE)


def too_long(post, limits=DEFAULTS):
    """Why ``post``'s text is over the server's limit, or None."""
    counted = status_length(post, limits["characters_reserved_per_url"])
    if counted <= limits["max_characters"]:
        return None
    return (f"The caption counts {counted} characters (a link counts {limits['characters_reserved_per_url']}, "
            f"the content warning counts too); Mastodon allows {limits['max_characters']}.")


def refused_by_server(post, limits):
    """Why the account's own server would refuse ``post`` (its length, media count, types and sizes), or None."""
    problem = too_long(post, limits)
    if problem:
        return problem
    rules = post_rules(post, limits)
    if len(post.media) > rules.max_media:
        return f"The server takes {rules.max_media} media in a status; this post has {len(post.media)}."
    for media in post.media:
        rule = rules.rule_for(media.kind)
        if rule is None:
            return "Mastodon takes a video only on its own, without images."
        if limits["supported_mime_types"] and media.content_type not in limits["supported_mime_types"]:
            return f"The server does not take {media.content_type} files ({media.id})."
        if rule.max_bytes and media.size > rule.max_bytes:
            return f"{media.id} has {media.size:,} bytes; the server takes {media.kind}s of {rule.max_bytes:,} at most."
    return None
