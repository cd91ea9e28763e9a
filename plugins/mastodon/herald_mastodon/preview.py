"""The ``mastodon_preview`` action of ``POST /api/webhooks``: how a caption fits in one status, as a
thread of statuses or truncated to one."""

import re

from .rules import DEFAULTS, length

LIMIT = DEFAULTS["max_characters"]


def truncate(text, limit=LIMIT):
    """``text`` cut to ``limit`` characters, ending with "…" when anything was cut."""
    if length(text) <= limit:
        return text
    cut = text[:limit]
    while length(cut) > limit - 1:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def split(text, limit=LIMIT):
    """``text`` as a thread: parts cut between words, numbered "(1/3)" when there are several."""
    if length(text) <= limit:
        return [text]
    room = limit - len(" (99/99)")
    parts = [""]
    for word in re.findall(r"\S+\s*", text):
        pieces = [word] if length(word) <= room else [word[i:i + room] for i in range(0, len(word), room)]
        for piece in pieces:
            if parts[-1] and length(parts[-1] + piece.rstrip()) > room:
                parts.append("")
            parts[-1] += piece
    return [f"{part.strip()} ({n}/{len(parts)})" for n, part in enumerate(parts, 1)]


PREVIEW_SCHEMA = {
    "type": "object",
    "required": ["action", "caption"],
    "additionalProperties": False,
    "properties": {
        "action": {"const": "mastodon_preview"},
        "caption": {"type": "string", "maxLength": 20000},
        "mode": {"enum": ["thread", "truncate"], "default": "thread"},
    },
}


def preview(ctx, payload):
    """How the caption fits Mastodon's limit: as a thread of statuses, or truncated to one."""
    caption = payload["caption"]
    parts = [truncate(caption)] if payload.get("mode") == "truncate" else split(caption)
    return {"length": length(caption), "limit": LIMIT, "fits": length(caption) <= LIMIT, "parts": parts}
