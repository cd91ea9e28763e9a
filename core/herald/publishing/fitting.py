"""What each platform is handed: the post checked against its rules, its media made to fit.

Before a post is queued (and in a dry run), :func:`check_platforms` runs every target platform's
declared rules (:mod:`herald.publishing.rules`) and then its ``check_post``; :func:`make_renditions`
then makes the copies the rules asked for (a JPEG of a PNG for Instagram), so a conversion that fails
is a 400 of the request, not a failed task later. Before a worker sends, :func:`post_for_platform`
checks the post again the same way and hands the platform its renditions (made now if missing),
the other platforms keeping the originals, and its own text and options (:mod:`.variants`).
"""

from __future__ import annotations

import dataclasses

from ..capabilities import provided
from ..db.models import Media, Post
from ..errors import ValidationError
from ..media import renditions
from ..media.configured import media_store
from ..media.public_links import rendition_url
from ..platforms import MediaRef, PostRef
from ..runtime import Runtime
from . import variants
from .posts import media_ref, resolve_media
from .rules import Verdict, evaluate


def check_platforms(runtime: Runtime, platforms: list[str], post: PostRef, fit: str | None = None,
                    post_variants: dict | None = None) -> dict[str, Verdict]:
    """Each platform's verdict on ``post`` as it is handed to it (its variant's text and options, see
    :mod:`herald.publishing.variants`): warnings and renditions. Raises the first error any of them has:
    what its declared rules refuse, then what its ``check_post`` refuses; an error about a variant's
    text names ``variants.<platform>.content``."""
    verdicts = {}
    for name in platforms:
        platform = runtime.registry.platforms[name].obj
        own = variants.for_platform(post, post_variants, name)
        text_field = variants.content_field(post_variants, name)
        declared = getattr(platform, "rules", None)
        rules = declared(own) if declared is not None else None
        try:
            verdicts[name] = evaluate(name, rules, own, fit) if rules is not None else Verdict()
        except ValidationError as exc:
            if exc.field == "content":
                exc.field = text_field
            raise
        for entry in verdicts[name].warnings:
            if entry.get("field") == "content":
                entry["field"] = text_field
        check = provided(platform, "check_post")
        problem = check(own) if check else None
        if problem:
            about_text = "caption" in problem.lower() or "text" in problem.lower()
            raise ValidationError(f"{name}: {problem}", field=text_field if about_text else "media")
    return verdicts


def verdict_warnings(verdicts: dict[str, Verdict]) -> list[dict]:
    """The warnings of every platform's verdict, in platform order."""
    return [entry for verdict in verdicts.values() for entry in verdict.warnings]


def make_renditions(runtime: Runtime, media: list[Media], verdicts: dict[str, Verdict]) -> None:
    """Make (or find) every rendition the verdicts ask for; 400 naming ``media.N`` when one cannot be made."""
    for verdict in verdicts.values():
        for index, recipe in verdict.recipes.items():
            try:
                renditions.ensure(media_store(runtime.config), media[index], recipe)
            except ValidationError as exc:
                exc.field = f"media.{index}"
                raise


def post_for_platform(runtime: Runtime, post: Post, name: str) -> PostRef:
    """``post`` as platform ``name`` is handed it, checked again against its rules (raises the
    :class:`ValidationError` that refuses it): media as signed links, renditions where its rules convert
    or pad, the originals elsewhere."""
    rows = resolve_media(post.workspace_id, post.media or []) if post.media else []
    ref = PostRef(id=post.id, caption=post.caption, post_type=post.post_type,
                  media=tuple(media_ref(runtime, row) for row in rows), topic=post.topic)
    verdict = check_platforms(runtime, [name], ref, fit=post.fit, post_variants=post.variants)[name]
    ref = variants.for_platform(ref, post.variants, name)
    if not verdict.recipes:
        return ref
    media = list(ref.media)
    for index, recipe in verdict.recipes.items():
        media[index] = _rendition_ref(runtime, rows[index], media[index], recipe)
    return dataclasses.replace(ref, media=tuple(media))


def _rendition_ref(runtime: Runtime, row: Media, original: MediaRef, recipe: renditions.Recipe) -> MediaRef:
    made = renditions.ensure(media_store(runtime.config), row, recipe)
    return MediaRef(id=original.id, kind=original.kind, content_type=made.content_type,
                    url=rendition_url(runtime.config, runtime.config.resolved_secret_key(), row, made),
                    size=made.size, sha256=made.sha256, width=made.width, height=made.height,
                    alt_text=original.alt_text)
