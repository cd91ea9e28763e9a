"""First comments: the Page's own comment under its post (``socialActions/{post}/comments``).

Posting is ``POST`` with the organisation as ``actor``; finding reads the same collection back
(``start``/``count`` paging) for a comment by the Page with the same text, so a comment whose answer
was lost is never posted twice.
"""

from __future__ import annotations

from herald.sdk import PlatformRejected
from herald_linkedin.client import LinkedInClient, quote
from herald_linkedin.errors import LinkedInError
from herald_linkedin.text import same_text

PAGE_SIZE = 100
MAX_PAGES = 20


def post(client: LinkedInClient, actor: str, post_urn: str, message: str) -> str:
    """Comment ``message`` as ``actor`` under ``post_urn``; the comment's id."""
    try:
        answer = client.post(f"socialActions/{quote(post_urn)}/comments",
                             {"actor": actor, "object": post_urn, "message": {"text": message}})
    except LinkedInError as err:
        raise err.platform_error() from None
    data = answer.data or {}
    return str(data.get("$URN") or data.get("id") or answer.headers.get("x-restli-id"))


def find_own(client: LinkedInClient, actor: str, post_urn: str, message: str) -> str | None:
    """The id of ``actor``'s comment ``message`` under ``post_urn``, or None after reading them all."""
    for page in range(MAX_PAGES):
        try:
            data = client.get(f"socialActions/{quote(post_urn)}/comments", start=page * PAGE_SIZE,
                              count=PAGE_SIZE).data or {}
        except LinkedInError as err:
            raise err.platform_error() from None
        elements = data.get("elements") or []
        for item in elements:
            if item.get("actor") == actor and same_text((item.get("message") or {}).get("text"), message):
                return str(item.get("$URN") or item.get("id"))
        if len(elements) < PAGE_SIZE:
            return None
    raise PlatformRejected(f"There are more than {MAX_PAGES * PAGE_SIZE} comments under {post_urn}: Herald could "
                           "not read through them to see whether its comment is there.")
