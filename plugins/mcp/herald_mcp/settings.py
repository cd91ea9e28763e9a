"""The plugin's server-wide settings (``herald plugins list`` shows them)."""

from __future__ import annotations

from herald.sdk import Setting


def posts_count(text: str) -> int:
    """A number of posts from 1 to 100."""
    value = int(text)
    if not 1 <= value <= 100:
        raise ValueError("give a number from 1 to 100")
    return value


RECENT_POSTS = Setting("HERALD_MCP_RECENT_POSTS", 20,
                       "How many posts, newest first, the resource herald://clients/{id}/recent-posts shows (1-100).",
                       parse=posts_count)
