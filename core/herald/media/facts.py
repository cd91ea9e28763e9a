"""What an uploaded file really is: images decoded with Pillow, videos parsed and decoded with PyAV.

The first bytes (:func:`herald.media.uploads.sniff`) only say what a file claims to be; an 8-byte PNG
signature, a truncated PNG or an MP4 header followed by noise claim as much as a real picture.
:func:`inspect` decodes the file and refuses with 415 ``unsupported_media_type``, saying why, what
does not decode as the type it claims. It also refuses markup (HTML, SVG, script, PHP) hidden in an
image's metadata or after its end: such a file is a polyglot that other programs may read as a page.

What decoding learns is kept as :class:`MediaFacts`: the facts platforms check before they take a
file (dimensions as displayed, duration, codecs, frame rate), so a post can be validated before it
is sent.
"""

from __future__ import annotations

import dataclasses
import mmap
import re
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError

from ..errors import UnsupportedMediaType

# Pillow's own bomb limit (about 89 million pixels, 268 MB as RGB): a larger image is refused rather
# than decoded, so one upload cannot take a worker's memory.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# Markup that makes a picture a polyglot a browser or a server may take for a page or a script.
_MARKUP = re.compile(rb"<\s*(?:!doctype\s+html|html|head|body|script|iframe|svg|object|embed|\?php)\b", re.I)
_NOT_MARKERS = frozenset({0x00, *range(0xD0, 0xD8)})  # in entropy-coded JPEG data: a stuffed FF, a restart
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that turn the picture a quarter: width and height swap


@dataclasses.dataclass(frozen=True)
class MediaFacts:
    """What decoding found. Dimensions are as the file is displayed (EXIF orientation, rotation applied)."""

    format: str  # Pillow's format (JPEG, PNG, WEBP) or the container's brand (mp4, mov)
    width: int
    height: int
    duration_seconds: float | None = None  # videos only
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_rate: float | None = None


def inspect(path: Path, content_type: str) -> MediaFacts:
    """Decode the file at ``path``, which claims ``content_type``; 415 saying why when it does not decode."""
    if content_type in PILLOW_FORMATS:
        return _image_facts(path, PILLOW_FORMATS[content_type])
    return _video_facts(path, content_type)


def _refuse(why: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(f"The file could not be read as an image or a video: {why}", field="file")


def _image_facts(path: Path, expected: str) -> MediaFacts:
    try:
        with Image.open(path, formats=[expected]) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _refuse(f"{width}×{height} pixels is more than the {MAX_PIXELS:,} Herald decodes.")
            if expected == "JPEG":
                # Decoding at 1/8 scale still reads every block of the file (a cut file fails the same),
                # in 1/64 of the memory.
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
            orientation = image.getexif().get(0x0112)
            metadata = [*image.info.values(), *(segment for _, segment in getattr(image, "applist", ()))]
    except UnidentifiedImageError:
        raise _refuse(f"it starts like a {expected} image but is not one.") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        # Pillow says "image file is truncated", "broken PNG file", "Truncated File Read"…
        raise _refuse(f"the {expected} data is damaged or cut short ({exc}).") from None
    _refuse_markup(metadata, path, expected)
    if orientation in _ROTATED:
        width, height = height, width
    return MediaFacts(format=expected, width=width, height=height)


def _refuse_markup(metadata: list, path: Path, image_format: str) -> None:
    for value in metadata:
        text = value.encode("utf-8", "replace") if isinstance(value, str) else value
        if isinstance(text, bytes) and _MARKUP.search(text):
            raise _refuse("its metadata holds HTML or script, which no picture needs.")
    # Mapped, not read: a 50 MB file costs no memory, and re and bytes.find search it in C.
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        end = {"JPEG": _jpeg_end, "PNG": _png_end, "WEBP": _webp_end}[image_format](data)
        # After the image's own end may come a motion photo's video; markup does not belong there.
        if _MARKUP.search(data, end):
            raise _refuse("HTML or script follows the end of the image.")


def _png_end(data) -> int:
    position = 8
    while position + 12 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        # Pillow keeps no trace of chunks it does not know: markup in a private chunk is looked for here.
        if kind != b"IDAT" and _MARKUP.search(data, position + 8, position + 8 + length):
            raise _refuse("its metadata holds HTML or script, which no picture needs.")
        position += 12 + length
        if kind == b"IEND":
            return position
    raise _refuse("the PNG file is cut short: its closing IEND chunk is missing.")


def _webp_end(data) -> int:
    size = int.from_bytes(data[4:8], "little") + 8
    return min(len(data), size + size % 2)


def _jpeg_end(data) -> int:
    """Where the JPEG's end-of-image marker ends: segments are skipped by length, entropy-coded
    data is scanned for the next marker (an ``FF`` not followed by ``00`` or a restart marker)."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return position  # not a marker where one must be: look at everything from here on
        marker = data[position + 1]
        if marker == 0xD9:
            return position + 2
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data runs up to the next marker
            position = _next_marker(data, position)
    return min(position, len(data))  # no end-of-image marker: everything from here on is looked at


def _next_marker(data, position: int) -> int:
    while (position := data.find(b"\xff", position)) != -1 and position + 1 < len(data):
        if data[position + 1] not in _NOT_MARKERS:
            return position
        position += 1
    return len(data)


def _video_facts(path: Path, content_type: str) -> MediaFacts:
    kind = "MOV" if content_type == "video/quicktime" else "MP4"
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise _refuse(f"the {kind} file has no video track.")
            video = container.streams.video[0]
            frame = next(container.decode(video), None)
            if frame is None:
                raise _refuse(f"the {kind} file's video track holds no picture that decodes.")
            audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
            duration = _duration(container, video)
            width, height = _display_size(frame, video)
            rate = video.average_rate or video.guessed_rate
            return MediaFacts(format=kind.lower(), width=width, height=height, duration_seconds=duration,
                              video_codec=video.codec_context.name, audio_codec=audio,
                              frame_rate=round(float(rate), 3) if rate else None)
    except av.FFmpegError as exc:
        raise _refuse(f"the {kind} container or its video does not decode ({_ffmpeg_reason(exc)}).") from None


def _ffmpeg_reason(exc: av.FFmpegError) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _duration(container, video) -> float | None:
    if video.duration is not None and video.time_base:
        return round(float(video.duration * video.time_base), 3)
    if container.duration is not None:
        return round(container.duration / av.time_base, 3)
    return None


def _display_size(frame, video) -> tuple[int, int]:
    """The picture's size as players show it: non-square pixels stretched, a quarter rotation applied."""
    width, height = frame.width, frame.height
    ratio = video.sample_aspect_ratio
    if ratio and Fraction(ratio) not in (0, 1):
        width = round(width * Fraction(ratio))
    if abs(int(getattr(frame, "rotation", 0) or 0)) % 180 == 90:
        width, height = height, width
    return width, height

