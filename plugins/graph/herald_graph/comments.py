"""Comments under a published Instagram media or Page object, shared by the two Graph platforms.

Posting is ``POST /{object-id}/comments`` with ``message`` (Meta's IG Media and Page Post
``/comments`` references). Finding is reading the same edge back, cursor paged, and keeping the
comment the account itself wrote with the same text: Herald uses it before sending a comment again,
so that a comment Meta took without saying so (code 1 or 2, or a lost answer) is never posted twice.
"""

from __future__ import annotations

from herald.sdk import PlatformRejected
from herald_graph.graph import GraphClient, GraphError, same_text

PAGE_SIZE = 100  # the most the comments edge gives per page
MAX_PAGES = 20  # 2,000 comments: a first comment made minutes ago is far inside that


def post(client: GraphClient, object_id: str, message: str) -> str:
    """Comment ``message`` under ``object_id`` as the token's account; the comment's id."""
    try:
        return str(client.post(f"{object_id}/comments", message=message)["id"])
    except GraphError as err:
        raise err.platform_error() from None


def find_own(client: GraphClient, object_id: str, message: str, author_id: str, *, text_field: str,
             **params: str) -> str | None:
    """The id of a comment under ``object_id`` written by ``author_id`` whose text is ``message``,
    or None when every comment has been read and none is.

    ``text_field`` is ``text`` (Instagram) or ``message`` (Pages); ``params`` go with each page's
    request (``order`` for Pages). Raises :class:`PlatformRejected` when the comments are too many
    to read through (then nobody can say it is not there), and the platform errors of a failed read.
    """
    after = None
    for _ in range(MAX_PAGES):
        page_params = dict(params, fields=f"id,{text_field},from", limit=PAGE_SIZE)
        if after:
            page_params["after"] = after
        try:
            answer = client.get(f"{object_id}/comments", **page_params)
        except GraphError as err:
            raise err.platform_error() from None
        for item in answer.get("data", []):
            if str((item.get("from") or {}).get("id")) == author_id and same_text(item.get(text_field), message):
                return str(item["id"])
        paging = answer.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        if not paging.get("next") or not after:
            return None
    raise PlatformRejected(f"There are more than {MAX_PAGES * PAGE_SIZE} comments under {object_id}: "
                           "Herald could not read through them to see whether its comment is there.")
