"""Cross-posting: what a post says on each platform where it should say something else (``variants``).

One post goes to several platforms whose rules differ (Bluesky's 300 characters, Instagram's 2,200).
A request may give, per platform, the text that platform publishes instead of the post's content, and
the options the platform declares (:attr:`herald.platforms.Platform.options_schema`)::

    "variants": {"bluesky": {"content": "The short version"},
                 "mastodon": {"options": {"spoiler_text": "Food", "visibility": "unlisted"}}}

The variants are stored on the post (``post.variants``, versioned with it). Each platform is handed its
own text as :attr:`PostRef.caption` and its options as :attr:`PostRef.options`, and its rules are
checked against that text by the dry run, the real request, an edit and the worker about to send: an
error in a variant's text names ``variants.<platform>.content``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError
from ..platforms import PostRef
from ..schemas import options_schema_name


def parse(runtime, value: Mapping[str, Any] | None, field: str = "variants") -> dict[str, dict] | None:
    """The variants of a request, checked: each key an installed platform, each ``options`` valid for its
    platform's ``options_schema`` (400 naming the field otherwise). Empty entries are dropped; None when
    nothing is left. (The request's schema has already checked the shape.)"""
    if not value:
        return None
    found: dict[str, dict] = {}
    for name, variant in value.items():
        registered = runtime.registry.platforms.get(name)
        if registered is None:
            installed = ", ".join(sorted(runtime.registry.platforms)) or "none"
            raise ValidationError(f"{field}.{name}: no platform {name!r} is installed here (installed: {installed}).",
                                  field=f"{field}.{name}")
        entry: dict[str, Any] = {}
        if variant.get("content") is not None:
            entry["content"] = variant["content"]
        if variant.get("options"):
            entry["options"] = _checked_options(runtime, name, registered.obj, variant["options"],
                                                f"{field}.{name}.options")
        if entry:
            found[name] = entry
    return found or None


def _checked_options(runtime, name: str, platform, options: dict, field: str) -> dict:
    if getattr(platform, "options_schema", None) is None:
        raise ValidationError(f"{field}: {name} takes no options.", field=field)
    try:
        runtime.schemas.validate(options_schema_name(name), options)
    except ValidationError as exc:
        inner = exc.field
        exc.field = f"{field}.{inner}" if inner else field
        exc.message = (f"{field}.{exc.message}" if inner and exc.message.startswith(inner)
                       else f"{field}: {exc.message}")
        raise
    return dict(options)


def caption_for(caption: str, variants: Mapping[str, Any] | None, platform: str) -> str:
    """The text ``platform`` publishes: its variant's content, else the post's ``caption``."""
    return ((variants or {}).get(platform) or {}).get("content") or caption


def for_platform(ref: PostRef, variants: Mapping[str, Any] | None, platform: str) -> PostRef:
    """``ref`` as ``platform`` is handed it: its own text and options."""
    variant = (variants or {}).get(platform) or {}
    if not variant:
        return ref
    return dataclasses.replace(ref, caption=variant.get("content") or ref.caption,
                               options=dict(variant.get("options") or {}))


def content_field(variants: Mapping[str, Any] | None, platform: str) -> str:
    """The request field that holds ``platform``'s text, for an error about it."""
    return f"variants.{platform}.content" if ((variants or {}).get(platform) or {}).get("content") else "content"


def texts(caption: str, platforms, variants: Mapping[str, Any] | None) -> dict[str, str]:
    """What each of ``platforms`` publishes, by platform (``GET /v1/posts/{id}``'s ``texts``)."""
    return {name: caption_for(caption, variants, name) for name in platforms}
