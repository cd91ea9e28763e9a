"""A post's text as Bluesky measures and annotates it.

Length: at most 300 graphemes (user-perceived characters: an emoji with its modifiers is one) and
3,000 UTF-8 bytes (``app.bsky.feed.post`` lexicon). Facets (links, mentions, hashtags) point into the
text by UTF-8 byte offsets, start inclusive, end exclusive
(https://docs.bsky.app/docs/advanced-guides/post-richtext). Mentions carry the account's DID, which the
caller resolves (``resolve(handle) -> did | None``: an unknown handle stays plain text, as in the app).
"""

from __future__ import annotations

from collections.abc import Callable

import regex

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
MAX_TAG_GRAPHEMES = 64

# The patterns of Bluesky's own client (@atproto/api, rich-text/util.ts), reduced to what Herald sends.
URL = regex.compile(r"(?:^|\s|\()(https?://[^\s]+)")
MENTION = regex.compile(r"(?:^|\s|\()@([a-zA-Z0-9.-]+\.[a-zA-Z][a-zA-Z0-9-]*)\b")
TAG = regex.compile(r"(?:^|\s)[#＃]([^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*"
                    r"[^\d\s\p{P}\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]+"
                    r"[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*)")
TRAILING = regex.compile(r"[.,;:!?)\]}\"']+$")


def graphemes(text: str) -> int:
    """How many grapheme clusters ``text`` has (Unicode UAX #29, ``\\X``)."""
    return len(regex.findall(r"\X", text))


def too_long(text: str) -> str | None:
    """Why ``text`` is too long for a post, or None."""
    count, size = graphemes(text), len(text.encode("utf-8"))
    if count > MAX_GRAPHEMES:
        return f"The text has {count} characters; Bluesky takes {MAX_GRAPHEMES} (emoji and accents count as one)."
    if size > MAX_BYTES:
        return f"The text takes {size:,} bytes in UTF-8; Bluesky takes {MAX_BYTES:,}."
    return None


def _byte_span(text: str, start: int, end: int) -> dict[str, int]:
    """The UTF-8 byte offsets of ``text[start:end]``."""
    byte_start = len(text[:start].encode("utf-8"))
    return {"byteStart": byte_start, "byteEnd": byte_start + len(text[start:end].encode("utf-8"))}


def facets(text: str, resolve: Callable[[str], str | None]) -> list[dict]:
    """The link, mention and hashtag facets of ``text``."""
    found = []
    for match in URL.finditer(text):
        uri = TRAILING.sub("", match.group(1))
        start = match.start(1)
        found.append({"index": _byte_span(text, start, start + len(uri)),
                      "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}]})
    for match in MENTION.finditer(text):
        handle = match.group(1).rstrip(".")
        did = resolve(handle.lower())
        if did:
            start = match.start(1) - 1  # the "@"
            found.append({"index": _byte_span(text, start, match.start(1) + len(handle)),
                          "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]})
    for match in TAG.finditer(text):
        tag = TRAILING.sub("", match.group(1))
        if tag and graphemes(tag) <= MAX_TAG_GRAPHEMES:
            start = match.start(1) - 1  # the "#"
            found.append({"index": _byte_span(text, start, match.start(1) + len(tag)),
                          "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]})
    return sorted(found, key=lambda facet: facet["index"]["byteStart"])
