"""Real pictures and videos for tests, made on the spot with Pillow and PyAV: Herald decodes every
upload, so a test that uploads a file needs one that decodes."""

from __future__ import annotations

import functools
import io
import os

import av
from PIL import Image


def picture(width: int = 2, height: int = 2, image_format: str = "PNG", **options) -> bytes:
    """A ``width`` × ``height`` picture in ``image_format`` (PNG, JPEG, WEBP), a gradient of colours."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def png(width: int = 2, height: int = 2) -> bytes:
    """A small PNG."""
    return picture(width, height, "PNG")


def jpeg(width: int = 2, height: int = 2, **options) -> bytes:
    """A small baseline JPEG (``comment=`` adds a COM segment)."""
    return picture(width, height, "JPEG", **options)


def webp(width: int = 2, height: int = 2) -> bytes:
    """A small lossless WebP."""
    return picture(width, height, "WEBP", lossless=True)


def noise_png(size: int) -> bytes:
    """A PNG of random pixels, stored uncompressed: about ``size`` bytes that no zip makes smaller."""
    side = max(1, int((size / 3) ** 0.5))
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


@functools.cache
def video(width: int = 64, height: int = 48, seconds: float = 1.0, container: str = "mp4", fps: int = 10,
          audio: bool = False) -> bytes:
    """A short H.264 video in ``container`` (``mp4`` or ``mov``), with an AAC track when ``audio``."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = output.add_stream("aac", rate=44100) if audio else None
        frames = round(seconds * fps)
        for index in range(frames):
            colour = (index * 255 // max(1, frames - 1), 80, 160)
            frame = av.VideoFrame.from_image(Image.new("RGB", (width, height), colour))
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
        if sound is not None:
            samples = 1024
            for index in range(round(seconds * 44100 / samples)):
                chunk = av.AudioFrame(format="fltp", layout="stereo", samples=samples)
                for plane in chunk.planes:
                    plane.update(bytes(plane.buffer_size))
                chunk.sample_rate, chunk.pts = 44100, index * samples
                output.mux(sound.encode(chunk))
            output.mux(sound.encode())
    return buffer.getvalue()


def mp4(**options) -> bytes:
    """A short MP4 video."""
    return video(container="mp4", **options)


def mov(**options) -> bytes:
    """A short QuickTime (MOV) video."""
    return video(container="mov", **options)
