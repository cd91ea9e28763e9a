"""Reading a Page's (or an Instagram account's) posts back within a time window, page by page.

After a crash Herald must know whether an earlier attempt already made a post, however many posts
came after it. The list is read with Graph's ``since``/``until`` bounds around the recorded attempt
times and followed through ``paging.next`` until it ends or reaches posts older than the window,
never "the newest N". Meta's ``next`` link is not fetched as it is (it carries the access token in
its query string): its query parameters, minus the token, are sent again on the same edge through
the plugin's own client, so the token stays in the header and the host stays the configured one.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Iterator
from typing import Any

from herald_graph.graph import GraphClient, parse_time

PAGE_SIZE = 100  # the most Graph returns per page of a Page's posts
MAX_PAGES = 30  # 3,000 posts in one attempt's window: past that Herald cannot decide


class Undecided(Exception):
    """The list could not be read to the end of the window: whether a post is there is unknown."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def next_params(next_url: str) -> dict[str, str]:
    """The query parameters of Meta's ``paging.next`` link, without the access token."""
    query = urllib.parse.parse_qsl(urllib.parse.urlsplit(next_url).query, keep_blank_values=True)
    return {name: value for name, value in query if name != "access_token"}


def read_window(client: GraphClient, edge: str, *, fields: str, since: dt.datetime, until: dt.datetime,
                time_field: str, max_pages: int = MAX_PAGES) -> Iterator[dict[str, Any]]:
    """Every item of ``edge`` (newest first) created between ``since`` and ``until``, each once.

    Raises :class:`Undecided` when more than ``max_pages`` pages would be needed or the paging goes
    round in circles, and :class:`~herald_graph.graph.GraphError` when a page cannot be read: a
    caller must then treat the post as possibly there.
    """
    params: dict[str, Any] = {"fields": fields, "since": int(since.timestamp()),
                              "until": int(until.timestamp()) + 1, "limit": PAGE_SIZE}
    seen_ids: set[str] = set()
    asked: set[tuple] = set()
    for _ in range(max_pages):
        asked.add(tuple(sorted(params.items())))
        answer = client.get(edge, **params)
        reached_older = False
        for item in answer.get("data") or []:
            created = parse_time(item.get(time_field))
            if created is not None and created < since:
                reached_older = True  # newest first: everything after this is older still
                break
            if created is not None and created > until:
                continue
            item_id = str(item.get("id"))
            if item_id not in seen_ids:  # time-based pages may repeat the item on their boundary
                seen_ids.add(item_id)
                yield item
        next_url = (answer.get("paging") or {}).get("next")
        if reached_older or not next_url:
            return
        params = next_params(next_url)
        if tuple(sorted(params.items())) in asked:
            raise Undecided("Meta's paging of the list went round in circles")
    raise Undecided(f"more than {max_pages * PAGE_SIZE} posts fall within the attempt's time window")
