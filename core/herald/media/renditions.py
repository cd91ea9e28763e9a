"""Renditions: an upload made into what a platform takes, once, kept beside the original.

Instagram takes JPEG only: a PNG or a WebP is converted for it (transparency flattened onto white,
the EXIF orientation applied, metadata left out) while the other platforms get the original. An image
outside a platform's aspect ratios is padded with white bars to the nearest allowed ratio when the
post asks for ``"fit": "pad"``. A :class:`Recipe` says what to make; :func:`ensure` makes it the first
time and finds the stored one after that (retries, other posts with the same media), recorded as a
:class:`~herald.db.models.MediaRendition` and served through the same signed links as uploads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import tempfile
from pathlib import Path

from PIL import Image, ImageOps

from ..db.models import Media, MediaRendition, write_transaction
from ..errors import ValidationError
from ..post_rules import Ratio
from .store import FILE_MODE, MediaNotStored, MediaStore, make_private_dirs
from .uploads import ALLOWED

PADDING = (255, 255, 255)  # the colour of the bars an image is padded with
JPEG_QUALITY = 90
SAVE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What to make of an image: its type, the aspect ratios it must end within (padded to the nearest;
    None: kept), and the width it is scaled down to when wider (None: kept)."""

    content_type: str
    pad_within: tuple[Ratio | None, Ratio | None] | None = None
    max_width: int | None = None

    @property
    def name(self) -> str:
        """The recipe as stored (``image/jpeg;pad=4:5..1.91:1;w=1440``): equal recipes share a rendition."""
        parts = [self.content_type]
        if self.pad_within:
            low, high = self.pad_within
            parts.append(f"pad={low or ''}..{high or ''}")
        if self.max_width:
            parts.append(f"w={self.max_width}")
        return ";".join(parts)


def ensure(store: MediaStore, media: Media, recipe: Recipe) -> MediaRendition:
    """The rendition of ``media`` made by ``recipe``: the one in ``store``, or made now (400 naming
    ``media`` when the original cannot be read any more)."""
    found = MediaRendition.get_or_none((MediaRendition.media == media.id) & (MediaRendition.recipe == recipe.name))
    if found is not None and store.exists(found.path):
        return found
    made = _render(store, media, recipe)
    with write_transaction():
        (MediaRendition.insert(media=media.id, recipe=recipe.name, **made)
         .on_conflict(conflict_target=[MediaRendition.media, MediaRendition.recipe], update=made).execute())
    return MediaRendition.get((MediaRendition.media == media.id) & (MediaRendition.recipe == recipe.name))


def padded_size(width: int, height: int, low: Ratio | None, high: Ratio | None) -> tuple[int, int]:
    """The canvas ``width`` × ``height`` is padded onto to end within ``low``..``high`` (width:height)."""
    if low is not None and width / height < low.value:
        return math.ceil(height * low.value), height
    if high is not None and width / height > high.value:
        return width, math.ceil(width / high.value)
    return width, height


def _render(store: MediaStore, media: Media, recipe: Recipe) -> dict:
    try:
        with store.local_path(media.path) as source, Image.open(source) as original:
            image = _flattened(ImageOps.exif_transpose(original), recipe.content_type)
    except MediaNotStored:
        raise ValidationError(f"media_{media.id} could not be converted to {recipe.content_type}: its file is "
                              "no longer stored", field="media") from None
    except (OSError, ValueError) as exc:
        raise ValidationError(f"media_{media.id} could not be converted to {recipe.content_type}: {exc}",
                              field="media") from None
    image = _pad(image, recipe.pad_within)
    if recipe.max_width and image.width > recipe.max_width:
        image = image.resize((recipe.max_width, max(1, round(image.height * recipe.max_width / image.width))),
                             Image.Resampling.LANCZOS)
        image = _pad(image, recipe.pad_within)  # rounding may have moved the ratio a pixel out
    digest = hashlib.sha256(f"{media.sha256}/{recipe.name}".encode()).hexdigest()
    relative = f"renditions/{digest[:2]}/{digest}{ALLOWED[recipe.content_type]}"
    # Made on this machine's disk (the spool directory), then put in the store whole.
    scratch = make_private_dirs(store.scratch)
    fd, temporary = tempfile.mkstemp(dir=scratch, prefix="rendition-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            options = {"quality": JPEG_QUALITY, "optimize": True} if recipe.content_type != "image/png" else {}
            image.save(file, SAVE_FORMATS[recipe.content_type], **options)
        os.chmod(temporary, FILE_MODE)
        data = Path(temporary).read_bytes()
        store.put_file(Path(temporary), relative)  # whole or not at all, even when two workers make it at once
    finally:
        Path(temporary).unlink(missing_ok=True)
    return {"content_type": recipe.content_type, "path": str(relative), "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "width": image.width, "height": image.height}


def _flattened(image: Image.Image, content_type: str) -> Image.Image:
    """``image`` in a mode its new type can store: transparency flattened onto white for JPEG."""
    if content_type != "image/jpeg":
        return image.convert("RGBA") if image.mode in ("P", "LA", "RGBA") else image.convert("RGB")
    if image.mode in ("P", "LA", "RGBA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, PADDING)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _pad(image: Image.Image, within: tuple[Ratio | None, Ratio | None] | None) -> Image.Image:
    if not within:
        return image
    size = padded_size(image.width, image.height, *within)
    if size == image.size:
        return image
    canvas = Image.new(image.mode, size, PADDING if image.mode == "RGB" else (*PADDING, 255))
    canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
    return canvas
