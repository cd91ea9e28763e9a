"""What a platform accepts, declared as data: :class:`PostRules` per post type, :class:`MediaRule` per kind.

A platform answers ``Platform.rules(post)`` with the rules of the post's type (as its
documentation states them); the core checks every post against them with one checker
(:mod:`herald.publishing.rules`), before anything is queued (the dry run and the real request alike)
and again before a worker sends, using the facts decoded at upload (dimensions, duration, codecs).
What a table cannot say stays in ``Platform.check_post``.

Limits a platform enforces are errors; ``recommended_*`` values only warn (the platform rescales or
recompresses). An image type the platform cannot take but Herald can convert is named in
``convert``: the platform is handed a converted rendition; the original is kept for the others.
"""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class Ratio:
    """An aspect ratio, width to height (``Ratio(4, 5)``; ``Ratio(1.91, 1)``)."""

    width: float
    height: float

    @property
    def value(self) -> float:
        """Width divided by height."""
        return self.width / self.height

    def __str__(self) -> str:
        def number(value: float) -> str:
            return f"{value:g}"

        return f"{number(self.width)}:{number(self.height)}"


@dataclasses.dataclass(frozen=True)
class MediaRule:
    """What a platform takes of one kind of media (``image`` or ``video``) in a post type.

    Every limit is optional (None: no limit). ``content_types`` are taken as they are; ``convert``
    maps a type Herald converts (``image/png``) to the type the platform is handed (``image/jpeg``).
    ``min_ratio``/``max_ratio`` bound width/height; an image outside them is refused, or padded to
    the nearest bound when the request asks for ``"fit": "pad"``.
    """

    content_types: tuple[str, ...]
    convert: tuple[tuple[str, str], ...] = ()
    max_bytes: int | None = None
    recommended_max_bytes: int | None = None  # above it: a warning (the platform may recompress)
    min_ratio: Ratio | None = None
    max_ratio: Ratio | None = None
    min_width: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    recommended_width: tuple[int, int] | None = None  # outside it: a warning (the platform rescales)
    min_duration: float | None = None  # seconds (videos)
    max_duration: float | None = None
    video_codecs: tuple[str, ...] | None = None  # FFmpeg's names: h264, hevc
    audio_codecs: tuple[str, ...] | None = None  # aac; a video without sound always passes
    min_frame_rate: float | None = None
    max_frame_rate: float | None = None

    def converts(self, content_type: str) -> str | None:
        """The type ``content_type`` is converted to for this platform, or None."""
        return dict(self.convert).get(content_type.lower())


@dataclasses.dataclass(frozen=True)
class PostRules:
    """What a platform takes in one post type: the caption, how many media, and each kind's rule.

    ``image``/``video`` None: that kind is not taken in this post type. ``shows_caption`` False:
    the caption is not published (Instagram stories), which is a warning, not an error. ``source``
    names the documentation the numbers come from (shown in the docs).
    """

    max_caption: int | None = None  # characters
    max_hashtags: int | None = None
    max_mentions: int | None = None
    min_media: int = 0
    max_media: int | None = None
    image: MediaRule | None = None
    video: MediaRule | None = None
    shows_caption: bool = True
    source: str = ""

    def rule_for(self, kind: Literal["image", "video"]) -> MediaRule | None:
        """The rule of ``kind`` in this post type (None: not taken)."""
        return self.image if kind == "image" else self.video
