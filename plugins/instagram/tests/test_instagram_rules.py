"""Instagram's declared rules (herald_instagram.rules) as the core's checker reads them: what is
refused (the error and its field), what is converted or padded, and what only warns."""

from __future__ import annotations

import dataclasses

import pytest

from herald.errors import ValidationError
from herald.platforms import MediaRef, PostRef
from herald.publishing.rules import evaluate
from herald_instagram import InstagramPlatform

instagram = InstagramPlatform()
MB = 1_000_000


def image(n: int = 1, content_type: str = "image/jpeg", width: int = 1080, height: int = 1080,
          size: int = MB) -> MediaRef:
    return MediaRef(id=f"media_{n}", kind="image", content_type=content_type, url="", size=size, sha256="0" * 64,
                    width=width, height=height)


def video(n: int = 1, **facts) -> MediaRef:
    values = {"width": 1080, "height": 1920, "duration_seconds": 20.0, "video_codec": "h264", "audio_codec": "aac",
              "frame_rate": 30.0, **facts}
    return MediaRef(id=f"media_{n}", kind="video", content_type="video/mp4", url="", size=20 * MB, sha256="0" * 64,
                    **values)


def check(post_type: str, media: tuple, caption: str = "Fresh bread", fit: str | None = None):
    post = PostRef(id=1, caption=caption, post_type=post_type, media=media)
    return evaluate("instagram", instagram.rules(post), post, fit)


@pytest.mark.parametrize("post_type,media,caption,field,words", [
    ("post", (), "Hi", "media", "needs an image or a video"),
    ("post", (image(width=1000, height=2000),), "Hi", "media.0", "from 4:5 to 1.91:1"),
    ("post", (image(width=2000, height=1000),), "Hi", "media.0", "from 4:5 to 1.91:1"),
    ("post", (image(size=9 * MB),), "Hi", "media.0", "at most 8 MB"),
    ("post", (image(),), "x" * 2201, "content", "at most 2,200 characters"),
    ("post", (image(),), "#a " * 31, "content", "at most 30 hashtags"),
    ("post", (image(),), "@a " * 21, "content", "at most 20 @mentions"),
    ("reel", (image(),), "Hi", "media.0", "takes no images"),
    ("reel", (video(), video(2)), "Hi", "media", "exactly one video"),
    ("reel", (video(duration_seconds=2.0),), "Hi", "media.0", "at least 3 s"),
    ("reel", (video(duration_seconds=901.0),), "Hi", "media.0", "at most 900 s"),
    ("reel", (video(video_codec="vp9"),), "Hi", "media.0", "h264, hevc"),
    ("reel", (video(audio_codec="mp3"),), "Hi", "media.0", "aac sound"),
    ("reel", (video(frame_rate=15.0),), "Hi", "media.0", "at least 23 fps"),
    ("reel", (video(width=3840, height=2160),), "Hi", "media.0", "at most 1920 px wide"),
    ("story", (image(1), image(2)), "", "media", "exactly one image or video"),
    ("story", (video(duration_seconds=61.0),), "", "media.0", "at most 60 s"),
    ("carousel", (image(),), "Hi", "media", "2 to 10"),
    ("carousel", tuple(image(n) for n in range(11)), "Hi", "media", "2 to 10"),
    ("carousel", (image(), video(2, width=1080, height=1920)), "Hi", "media.1", "from 4:5 to 16:9"),
])
def test_what_instagram_refuses(post_type, media, caption, field, words):
    with pytest.raises(ValidationError) as caught:
        check(post_type, media, caption)
    assert caught.value.field == field and words in caught.value.message, caught.value.message
    assert caught.value.message.startswith("instagram: ")


def test_a_png_or_webp_is_converted_to_jpeg():
    verdict = check("carousel", (image(1, "image/png"), image(2, "image/webp"), image(3)))
    assert sorted(verdict.recipes) == [0, 1]
    assert {recipe.content_type for recipe in verdict.recipes.values()} == {"image/jpeg"}
    assert [entry["code"] for entry in verdict.warnings] == ["media_converted", "media_converted"]
    # A PNG over 8 MB is not refused: its JPEG copy is what Instagram gets (at most 1440 px wide).
    assert check("post", (image(content_type="image/png", size=20 * MB),)).recipes[0].max_width == 1440


def test_fit_pad_pads_an_image_to_the_nearest_ratio_and_never_a_video():
    verdict = check("post", (image(width=1000, height=2000),), fit="pad")
    [recipe] = verdict.recipes.values()
    assert recipe.content_type == "image/jpeg" and str(recipe.pad_within[0]) == "4:5"
    assert [entry["code"] for entry in verdict.warnings] == ["media_padded"]
    with pytest.raises(ValidationError):
        check("carousel", (image(), video(2, width=1080, height=1920)), fit="pad")


def test_warnings_only():
    story = check("story", (image(width=200, height=200),), caption="Not shown")
    assert [entry["code"] for entry in story.warnings] == ["caption_not_shown", "media_rescaled"]
    assert check("post", (image(),), caption="#bread " * 30 + "@baker " * 20).warnings == []
    assert check("post", (dataclasses.replace(image(), width=None, height=None),)).warnings == []  # facts unknown
