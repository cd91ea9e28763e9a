"""Each client's analysed posts held in this process and updated from the posts that changed.

Every intelligence result starts from :func:`herald.intelligence.history.load`: the client's newest
posts with their caption features and engagement. Loading them is a walk of up to
:data:`~herald.intelligence.history.MAX_POSTS` posts (about 150 ms at 5,000), and a client under
constant engagement pulls changes between almost every two reads. So this process keeps the items it
loaded, with the client's revision (:mod:`herald.intelligence.results`) and time zone they were loaded
at, and brings them up to date instead of loading them again:

- the ids of the client's newest posts are read (one index scan): posts that entered (created, restored,
  moved in) are loaded, posts that left (deleted, cancelled, moved out, pushed out by newer ones) dropped;
- the posts changed since the held revision (``intelligence_post_change``, kept by triggers in the
  transaction of every write: :mod:`herald.db.intelligence_revisions`) are loaded again;
- a change of the client's time zone, a rebuild of derived data (which records a change of every post),
  or more changed posts than :data:`MOST_CHANGES` load everything again.

The answer is what :func:`~herald.intelligence.history.load` gives (the tests compare the two after
random writes). Processes do not share what they hold: each loads a client once, then follows it. The
posts held are bounded (``HERALD_INTELLIGENCE_CACHE_POSTS``, :func:`configure`): the clients read least
recently are dropped first; 0 holds nothing (every read loads).
"""

from __future__ import annotations

import collections
import dataclasses
import threading

from ..db import models
from ..db.models import Client, IntelligencePostChange
from . import history, results
from .history import PostStats

DEFAULT_CAPACITY = 25_000  # posts held (about five clients at the 5,000 the analyses read)
MOST_CHANGES = 1_000  # more changed posts than this: load everything again (as fast, and simpler)


@dataclasses.dataclass(frozen=True)
class Held:
    """A client's items at a revision (never changed once made: readers share it)."""

    revision: int
    timezone: str | None
    items: tuple[PostStats, ...]  # ordered as history.load orders them
    by_id: dict[int, PostStats]


class ItemsCache:
    """The clients' items this process holds, least recently used dropped first beyond ``capacity`` posts."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self._held: collections.OrderedDict[int, Held] = collections.OrderedDict()
        self._database = None
        self._lock = threading.Lock()
        self.loads = 0  # whole loads (for tests and benchmarks)
        self.updates = 0  # updates from the changed posts

    def clear(self) -> None:
        """Forget every client."""
        with self._lock:
            self._held.clear()

    def _get(self, client_id: int) -> Held | None:
        with self._lock:
            if self._database is not models.db.obj:  # another database was bound: nothing held describes it
                self._held.clear()
                self._database = models.db.obj
            held = self._held.get(client_id)
            if held is not None:
                self._held.move_to_end(client_id)
            return held

    def _put(self, client_id: int, held: Held) -> None:
        with self._lock:
            if self._database is not models.db.obj:
                return
            self._held[client_id] = held
            self._held.move_to_end(client_id)
            total = sum(len(entry.items) for entry in self._held.values())
            while self._held and total > self.capacity:
                _, dropped = self._held.popitem(last=False)
                total -= len(dropped.items)

    def items(self, workspace_id: int, client: Client) -> list[PostStats]:
        """The client's items as :func:`herald.intelligence.history.load` gives them, from what is held when
        it can be brought up to date (see the module's description)."""
        revision = results.revision(client.id)  # before anything is read: what is held is at least this new
        held = self._get(client.id)
        if held is not None and held.timezone == client.timezone:
            if held.revision == revision:
                return list(held.items)
            updated = self._update(workspace_id, client, held, revision)
            if updated is not None:
                return list(updated.items)
        self.loads += 1
        items = history.load(workspace_id, client)
        if self.capacity > 0:
            self._put(client.id, Held(revision, client.timezone, tuple(items), {item.post_id: item for item in items}))
        return items

    def current(self, client: Client) -> tuple[PostStats, ...] | None:
        """The client's items when held at its current revision and time zone (nothing is read but the
        revision), else None."""
        held = self._get(client.id)
        if held is None or held.timezone != client.timezone or held.revision != results.revision(client.id):
            return None
        return held.items

    def _update(self, workspace_id: int, client: Client, held: Held, revision: int) -> Held | None:
        """``held`` brought to ``revision`` from the posts that entered, left or changed; None when
        everything must be loaded again."""
        changed = [post_id for (post_id,) in IntelligencePostChange.select(IntelligencePostChange.post_id)
                   .where((IntelligencePostChange.client_id == client.id)
                          & (IntelligencePostChange.revision >= held.revision)).limit(MOST_CHANGES + 1).tuples()]
        if len(changed) > MOST_CHANGES or any(post_id < 0 for post_id in changed):
            return None
        window = history.newest_ids(workspace_id, client)
        inside = set(window)
        wanted = [post_id for post_id in window if post_id not in held.by_id] + \
                 [post_id for post_id in changed if post_id in inside and post_id in held.by_id]
        reread = set(wanted)
        by_id = {post_id: item for post_id, item in held.by_id.items() if post_id in inside and post_id not in reread}
        for item in history.posts(workspace_id, client, wanted) if wanted else ():
            by_id[item.post_id] = item
        if len(by_id) != len(inside):  # a post of the window could not be read (it changed meanwhile)
            return None
        self.updates += 1
        updated = Held(revision, client.timezone, tuple(sorted(by_id.values(), key=history.order)), by_id)
        self._put(client.id, updated)
        return updated


cache = ItemsCache()


def configure(capacity: int) -> None:
    """Hold at most ``capacity`` posts (``HERALD_INTELLIGENCE_CACHE_POSTS``; 0: hold nothing)."""
    cache.capacity = capacity
    cache.clear()


def current(client: Client) -> tuple[PostStats, ...] | None:
    """The client's items when this process holds them at its current revision, else None."""
    return cache.current(client)


def items(workspace_id: int, client: Client, *, exclude_post: int | None = None) -> list[PostStats]:
    """:func:`herald.intelligence.history.load` of the client, from what this process holds when it can."""
    found = cache.items(workspace_id, client)
    return found if exclude_post is None else [item for item in found if item.post_id != exclude_post]
