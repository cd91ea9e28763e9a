"""First comments on Threads: a reply is a post (a container with ``reply_to_id``, then
``threads_publish``), and finding one is reading the post's top-level replies (``/replies``).

A reply container that is never published is no reply, so anything that fails before the publish
request is simply tried again; only a publish whose answer was lost is uncertain, and Herald then
reads the replies (every page) before it sends anything again.
"""

from __future__ import annotations

from herald.sdk import AccountRef, PlatformRejected, PlatformUnavailable
from herald_threads.client import MISSING, ThreadsClient, ThreadsError, same_text

NOT_READY_WAIT = 30.0  # Meta suggests about 30 seconds between a container and its publish
PAGE_SIZE = 100
MAX_PAGES = 20  # 2,000 replies: a first comment made minutes ago is far inside that


def post_reply(client: ThreadsClient, account: AccountRef, post_id: str, message: str) -> str:
    """Reply ``message`` under ``post_id`` as the account; the reply's media id."""
    try:
        container = str(client.post(f"{account.external_id}/threads", media_type="TEXT", text=message,
                                    reply_to_id=post_id)["id"])
        status = client.get(container, fields="status,error_message")
    except ThreadsError as err:
        raise err.platform_error() from None
    if status.get("status") == "IN_PROGRESS":
        raise PlatformUnavailable("Threads is still preparing the reply; Herald will try again.",
                                  retry_after=NOT_READY_WAIT)
    if status.get("status") != "FINISHED":
        raise PlatformRejected(f"Threads could not prepare the reply ({status.get('status')}: "
                               f"{status.get('error_message') or 'no reason given'}).")
    try:
        return str(client.post(f"{account.external_id}/threads_publish", creation_id=container)["id"])
    except ThreadsError as err:
        if err.kind == MISSING:  # Threads does not know the container yet: nothing was published
            raise PlatformUnavailable(err.reason, retry_after=NOT_READY_WAIT) from None
        raise err.platform_error() from None


def find_own_reply(client: ThreadsClient, account: AccountRef, post_id: str, message: str) -> str | None:
    """The id of the account's own top-level reply ``message`` under ``post_id``, or None when every reply
    was read and none is; :class:`PlatformRejected` when they are too many to read through."""
    params = {"fields": "id,text,username,timestamp", "reverse": "false", "limit": PAGE_SIZE}
    for _ in range(MAX_PAGES):
        try:
            answer = client.get(f"{post_id}/replies", **params)
        except ThreadsError as err:
            raise err.platform_error() from None
        for item in answer.get("data") or []:
            if item.get("username") == account.username and same_text(item.get("text"), message):
                return str(item["id"])
        paging = answer.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after")
        if not answer.get("data") or not after:  # an empty page ends it: "next" is not always given
            return None
        params["after"] = after
    raise PlatformRejected(f"There are more than {MAX_PAGES * PAGE_SIZE} replies under {post_id}: Herald could not "
                           "read through them to see whether its reply is there.")
