"""The one checker of what platforms declare they take (:class:`herald.post_rules.PostRules`).

:func:`evaluate` reads a post (caption, media and the facts decoded at upload) against one platform's
rules: it raises the first error (a 400 naming ``content``, ``media`` or ``media.N``) and otherwise
answers the warnings and, per media item, the :class:`~herald.media.renditions.Recipe` of what the
platform is handed instead of the original (a JPEG of a PNG, an image padded into the allowed ratios).
It reads nothing and writes nothing, so the dry run, the real request and the worker about to send
reach the same answer for the same post.
"""

from __future__ import annotations

import dataclasses
import re

from ..errors import ValidationError, warning
from ..media.renditions import Recipe, padded_size
from ..platforms import MediaRef, PostRef
from ..post_rules import MediaRule, PostRules, Ratio

PAD = "pad"
# A hashtag or a mention starts a word: "#tag" and "@name", not "a#b" or "mail@example.com".
HASHTAG = re.compile(r"(?<![\w&#])#\w+")
MENTION = re.compile(r"(?<![\w.@])@[\w.]+")
TYPE_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "video/mp4": "MP4",
              "video/quicktime": "MOV"}


@dataclasses.dataclass
class Verdict:
    """What one platform's rules said of a post that passed them: warnings, and the renditions its
    media items need (by position in the post's media)."""

    warnings: list[dict] = dataclasses.field(default_factory=list)
    recipes: dict[int, Recipe] = dataclasses.field(default_factory=dict)


def evaluate(name: str, rules: PostRules, post: PostRef, fit: str | None = None) -> Verdict:
    """Check ``post`` against ``rules`` of platform ``name``; raises :class:`ValidationError` for the first
    thing the platform would refuse, else answers the :class:`Verdict`. ``fit="pad"`` pads images outside
    the aspect ratios instead of refusing them."""
    verdict = Verdict()
    title = name.capitalize()
    _check_caption(name, title, rules, post, verdict)
    _check_count(title, rules, post)
    for index, media in enumerate(post.media):
        recipe = _check_media(name, title, rules, post.post_type, index, media, fit, verdict)
        if recipe is not None:
            verdict.recipes[index] = recipe
    return verdict


def _check_caption(name: str, title: str, rules: PostRules, post: PostRef, verdict: Verdict) -> None:
    caption = post.caption or ""
    if not rules.shows_caption:
        if caption.strip():
            verdict.warnings.append(warning("caption_not_shown", f"{title} shows no caption on a {post.post_type}: "
                                            f"the content is not published there.", "content"))
        return
    if rules.max_caption is not None and len(caption) > rules.max_caption:
        raise ValidationError(f"{name}: {title} takes captions of at most {rules.max_caption:,} characters; this one "
                              f"has {len(caption):,}.", field="content")
    for pattern, limit, what in ((HASHTAG, rules.max_hashtags, "hashtags"), (MENTION, rules.max_mentions,
                                                                            "@mentions")):
        found = len(pattern.findall(caption))
        if limit is not None and found > limit:
            raise ValidationError(f"{name}: {title} takes at most {limit} {what} in a caption; this one has {found}.",
                                  field="content")


def _kinds(rules: PostRules) -> str:
    kinds = [word for word, rule in (("an image", rules.image), ("a video", rules.video)) if rule is not None]
    return " or ".join(kinds) or "no media"


def _check_count(title: str, rules: PostRules, post: PostRef) -> None:
    count, low, high = len(post.media), rules.min_media, rules.max_media
    name = title.lower()
    if count == 0 and low > 0:
        raise ValidationError(f"{name}: {title} needs {_kinds(rules)}; this post has none.", field="media")
    if count < low or (high is not None and count > high):
        plural = "images or videos" if rules.image and rules.video else ("videos" if rules.video else "images")
        wanted = (f"exactly {low}" if low == high else f"{low} to {high}" if high is not None else f"at least {low}")
        if low == high == 1:
            wanted = "exactly one"
            plural = " or ".join(kind for kind, rule in (("image", rules.image), ("video", rules.video)) if rule)
        raise ValidationError(f"{name}: a {post.post_type} on {title} takes {wanted} {plural}; this one has "
                              f"{count}.", field="media")


def _check_media(name: str, title: str, rules: PostRules, post_type: str, index: int, media: MediaRef,
                 fit: str | None, verdict: Verdict) -> Recipe | None:
    field = f"media.{index}"
    rule = rules.rule_for(media.kind)
    if rule is None:
        raise ValidationError(f"{name}: a {post_type} on {title} takes no {media.kind}s; {media.id} is one.",
                              field=field)

    def refuse(why: str) -> ValidationError:
        return ValidationError(f"{name}: {media.id} {why}", field=field)

    content_type = media.content_type.lower()
    converted = None
    if content_type not in rule.content_types:
        converted = rule.converts(content_type)
        if converted is None:
            accepted = ", ".join(TYPE_NAMES.get(item, item) for item in rule.content_types)
            raise refuse(f"is {TYPE_NAMES.get(content_type, content_type)}; {title} takes {accepted} "
                         f"{media.kind}s only.")
    if rule.max_bytes is not None and media.size > rule.max_bytes and converted is None:
        raise refuse(f"is {_megabytes(media.size)}; {title} takes {media.kind}s of at most "
                     f"{_megabytes(rule.max_bytes)}.")
    padded = _check_shape(title, rule, media, fit, refuse)
    _check_video(title, rule, media, refuse)
    _advise(name, title, rule, media, field, converted, padded, verdict)
    if converted is None and padded is None:
        return None
    return Recipe(content_type=converted or content_type, pad_within=padded,
                  max_width=rule.recommended_width[1] if rule.recommended_width else rule.max_width)


def _check_shape(title: str, rule: MediaRule, media: MediaRef, fit: str | None,
                 refuse) -> tuple[Ratio | None, Ratio | None] | None:
    """Dimensions and aspect ratio; the bounds to pad within when the image is padded."""
    width, height = media.width, media.height
    if not width or not height:
        return None  # uploaded before Herald decoded files: the platform says
    if rule.min_width is not None and width < rule.min_width:
        raise refuse(f"is {width} px wide; {title} takes {media.kind}s at least {rule.min_width} px wide.")
    if rule.max_width is not None and width > rule.max_width:
        raise refuse(f"is {width} px wide; {title} takes {media.kind}s at most {rule.max_width} px wide.")
    if rule.max_height is not None and height > rule.max_height:
        raise refuse(f"is {height} px high; {title} takes {media.kind}s at most {rule.max_height} px high.")
    low, high = rule.min_ratio, rule.max_ratio
    if padded_size(width, height, low, high) == (width, height):
        return None
    allowed = f"from {low or 'any'} to {high or 'any'} (width:height)"
    if fit == PAD and media.kind == "image":
        return low, high
    hint = ' Crop it, or send "fit": "pad" to have Herald pad it with white bars.' if media.kind == "image" else ""
    raise refuse(f"is {width}×{height} ({width / height:.3g}:1); {title} takes {media.kind}s with an aspect ratio "
                 f"{allowed}.{hint}")


def _check_video(title: str, rule: MediaRule, media: MediaRef, refuse) -> None:
    duration = media.duration_seconds
    if duration is not None:
        if rule.min_duration is not None and duration < rule.min_duration:
            raise refuse(f"lasts {duration:g} s; {title} takes videos of at least {rule.min_duration:g} s.")
        if rule.max_duration is not None and duration > rule.max_duration:
            raise refuse(f"lasts {duration:g} s; {title} takes videos of at most {rule.max_duration:g} s.")
    if rule.video_codecs is not None and media.video_codec and media.video_codec not in rule.video_codecs:
        raise refuse(f"is encoded with {media.video_codec}; {title} takes {', '.join(rule.video_codecs)} video.")
    if rule.audio_codecs is not None and media.audio_codec and media.audio_codec not in rule.audio_codecs:
        raise refuse(f"has {media.audio_codec} sound; {title} takes {', '.join(rule.audio_codecs)} sound.")
    rate = media.frame_rate
    if rate is not None:
        if rule.min_frame_rate is not None and rate < rule.min_frame_rate:
            raise refuse(f"runs at {rate:g} fps; {title} takes videos of at least {rule.min_frame_rate:g} fps.")
        if rule.max_frame_rate is not None and rate > rule.max_frame_rate:
            raise refuse(f"runs at {rate:g} fps; {title} takes videos of at most {rule.max_frame_rate:g} fps.")


def _advise(name: str, title: str, rule: MediaRule, media: MediaRef, field: str, converted: str | None,
            padded, verdict: Verdict) -> None:
    """The warnings: what Herald changes for this platform, and what the platform will change."""
    if converted is not None:
        verdict.warnings.append(warning(
            "media_converted", f"{media.id} is {TYPE_NAMES.get(media.content_type, media.content_type)}, which "
            f"{title} does not take: {name} gets a {TYPE_NAMES.get(converted, converted)} copy; the other "
            "platforms get the original.", field))
    if padded is not None:
        low, high = padded
        verdict.warnings.append(warning(
            "media_padded", f"{media.id} ({media.width}×{media.height}) is outside {title}'s aspect ratios "
            f"({low or 'any'} to {high or 'any'}): {name} gets a copy padded with white bars.", field))
    if rule.recommended_max_bytes is not None and media.size > rule.recommended_max_bytes and converted is None:
        verdict.warnings.append(warning(
            "media_large", f"{media.id} is {_megabytes(media.size)}; {title} recommends at most "
            f"{_megabytes(rule.recommended_max_bytes)} and may compress it.", field))
    if rule.recommended_width and media.width:
        low, high = rule.recommended_width
        if not low <= media.width <= high and not (converted or padded):
            verdict.warnings.append(warning(
                "media_rescaled", f"{media.id} is {media.width} px wide; {title} shows {media.kind}s {low} to "
                f"{high} px wide and rescales it.", field))


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size % 1_000_000 else f"{size // 1_000_000} MB"
