"""A logo's dominant colours, measured from its pixels (Pillow), and a palette with roles.

Transparent pixels are ignored (a logo's background is usually transparent). The opaque ones are
quantised (median cut) and colours closer than :data:`MERGE_DISTANCE` merged, so anti-aliased
edges do not show up as colours of their own. Roles are assigned by rule, not guessed:
``primary`` is the most used non-neutral colour, ``secondary`` the next, ``accent`` the most
saturated remaining one; ``background`` and ``text`` are the logo's lightest and darkest colours
when they are light or dark enough, otherwise white and near-black (``source: "derived"``), and
text is checked against the background for WCAG contrast.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import HeraldError

MAX_PIXELS = 40_000_000  # refuse to decode more (decompression bombs)
SAMPLE_SIZE = (160, 160)
MERGE_DISTANCE = 28.0
MIN_SHARE = 0.01


class LogoUnreadable(HeraldError):
    """422: the file is not an image Pillow can read, is too large, or has no opaque pixel."""

    code = "invalid_logo"


def hex_of(rgb: tuple[int, int, int]) -> str:
    """``#E63946``."""
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance, 0 (black) to 1 (white)."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return round((la + 0.05) / (lb + 0.05), 2)


def saturation(rgb: tuple[int, int, int]) -> float:
    """HLS saturation, 0 (grey) to 1."""
    return colorsys.rgb_to_hls(*(v / 255 for v in rgb))[2]


def _distance(a, b) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5


def dominant_colors(path: Path, count: int = 6) -> list[dict]:
    """Up to ``count`` colours of the image's opaque pixels, most used first: ``{"hex", "rgb", "share"}``."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise LogoUnreadable(f"The logo is {image.width}×{image.height} pixels; the limit is "
                                     f"{MAX_PIXELS // 1_000_000} million.", field="media_id")
            image.draft("RGB", SAMPLE_SIZE)  # JPEG: decode at a reduced size
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise LogoUnreadable(f"The logo could not be read as an image ({exc}).", field="media_id") from None
    rgba.thumbnail(SAMPLE_SIZE, Image.Resampling.NEAREST)  # nearest: no blended colours invented
    pixels = rgba.get_flattened_data() if hasattr(rgba, "get_flattened_data") else rgba.getdata()  # Pillow 13 / older
    opaque = [pixel[:3] for pixel in pixels if pixel[3] >= 128]
    if not opaque:
        raise LogoUnreadable("The logo has no opaque pixels.", field="media_id")
    strip = Image.new("RGB", (len(opaque), 1))
    strip.putdata(opaque)
    quantised = strip.quantize(colors=12, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette()
    merged: list[list] = []  # [rgb, pixels]
    for pixels, index in sorted(quantised.getcolors(), reverse=True):
        rgb = tuple(palette[index * 3: index * 3 + 3])
        for entry in merged:
            if _distance(entry[0], rgb) < MERGE_DISTANCE:
                entry[1] += pixels
                break
        else:
            merged.append([rgb, pixels])
    total = len(opaque)
    merged.sort(key=lambda entry: -entry[1])
    return [{"hex": hex_of(rgb), "rgb": list(rgb), "share": round(pixels / total, 3)}
            for rgb, pixels in merged if pixels / total >= MIN_SHARE][:count]


def palette_roles(colors: list[dict]) -> list[dict]:
    """The template palette: ``{"role", "hex", "share", "source"}`` for primary, secondary, accent,
    background and text (see the module docstring for the rules)."""
    def entry(role, rgb, share, source):
        return {"role": role, "hex": hex_of(tuple(rgb)), "share": share, "source": source}

    vivid = [c for c in colors if saturation(tuple(c["rgb"])) >= 0.15 and 0.02 < luminance(tuple(c["rgb"])) < 0.9]
    chosen = vivid or colors
    roles = [entry("primary", chosen[0]["rgb"], chosen[0]["share"], "logo")]
    rest = list(chosen[1:])
    if rest:
        roles.append(entry("secondary", rest[0]["rgb"], rest[0]["share"], "logo"))
        rest = rest[1:]
    if rest:
        accent = max(rest, key=lambda c: saturation(tuple(c["rgb"])))
        roles.append(entry("accent", accent["rgb"], accent["share"], "logo"))
    lightest = max(colors, key=lambda c: luminance(tuple(c["rgb"])))
    darkest = min(colors, key=lambda c: luminance(tuple(c["rgb"])))
    background = (lightest["rgb"], lightest["share"], "logo") if luminance(tuple(lightest["rgb"])) >= 0.85 \
        else ((255, 255, 255), None, "derived")
    text = (darkest["rgb"], darkest["share"], "logo") if luminance(tuple(darkest["rgb"])) <= 0.05 \
        else ((17, 17, 17), None, "derived")
    if contrast(tuple(text[0]), tuple(background[0])) < 4.5:
        text = ((17, 17, 17), None, "derived")
    roles.append(entry("background", *background))
    roles.append(entry("text", *text))
    for role in roles:
        rgb = tuple(int(role["hex"][i:i + 2], 16) for i in (1, 3, 5))
        role["contrast_on_background"] = contrast(rgb, tuple(background[0]))
    return roles
