"""Mastodon for Herald: publishes statuses and previews how a caption fits in 500 characters.

The account's ``settings["base_url"]`` is its server (``https://mastodon.social``) and its
``token`` an access token with the ``write:statuses`` scope.
"""

import datetime as dt
import json
import re
import urllib.error
import urllib.parse
import urllib.request

from herald.sdk import Action, Platform, PublishOutcome, hookimpl

LIMIT = 500
LINK = re.compile(r"https?://\S+")


def length(text):
    """The length Mastodon counts, or a little more: every link counts as 23 characters."""
    return len(LINK.sub("x" * 23, text))


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


def seconds_until(reset):
    """Seconds until an ``X-RateLimit-Reset`` time (ISO 8601), or None when there is none."""
    try:
        return max(0.0, (dt.datetime.fromisoformat(reset) - dt.datetime.now(dt.UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class MastodonPlatform(Platform):
    """Publishes a post's caption as a public status with ``POST /api/v1/statuses``."""

    name = "mastodon"
    post_types = ("post",)

    def publish(self, task_context):
        post, account = task_context.post, task_context.account
        if length(post.caption) > LIMIT:
            return PublishOutcome.permanent(f"The caption counts {length(post.caption)} characters; "
                                            f"Mastodon allows {LIMIT}.")
        base_url = account.settings["base_url"].rstrip("/")
        request = urllib.request.Request(
            f"{base_url}/api/v1/statuses", method="POST",
            data=urllib.parse.urlencode({"status": post.caption, "visibility": "public"}).encode(),
            # A retried publish sends the same key, so Mastodon posts the status only once.
            headers={"Authorization": f"Bearer {account.token}", "Idempotency-Key": f"herald-post-{post.id}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = json.load(response)
        except urllib.error.HTTPError as exc:
            reason = f"Mastodon answered {exc.code}: {exc.read(300).decode(errors='replace')}"
            if exc.code in (408, 429) or exc.code >= 500:
                return PublishOutcome.transient(reason, seconds_until(exc.headers.get("X-RateLimit-Reset")))
            if exc.code == 401:  # the token itself: Herald marks the account and spares its other posts
                return PublishOutcome.permanent(reason, account_status="invalid")
            return PublishOutcome.permanent(reason)  # 422 rejected status, 404, ...
        except (urllib.error.URLError, TimeoutError) as exc:
            return PublishOutcome.transient(f"Could not reach {base_url}: {exc}")
        return PublishOutcome.published(status["id"], url=status.get("url"))


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


@hookimpl
def register_platforms(register):
    register(MastodonPlatform())


@hookimpl
def register_actions(register):
    register(Action("mastodon_preview", preview, PREVIEW_SCHEMA, scope="posts:read",
                    description="Show how a caption fits Mastodon's 500 characters."))
