"""Each client's analysed posts held in this process and updated from the posts that changed.

Every intelligence result starts from :func:`herald.intelligence.history.load`: the client's newest
posts with their caption features and engagement. Loading them is a walk of up to
:data:`~herald.intelligence.history.MAX_POSTS` posts (about 150 ms at 5,000), and a client under
constant engagement pulls changes between almost every two reads. So this process keeps the items it
loaded, with the client's revision (:mod:`herald.intelligence.results`) and time zone they were loaded
at, and brings them up to date instead of loading them again:

- when a post came, went or changed status since (``intelligence_window``), the ids of the client's newest
  posts are read (one index scan): posts that entered (created, restored, moved in) are loaded, posts that
  left (deleted, cancelled, moved out, pushed out by newer ones) dropped;
- the posts changed since the held revision (``intelligence_post_change``, kept by triggers in the
  transaction of every write: :mod:`herald.db.intelligence_revisions`) are loaded again;
- a change of the client's time zone, a rebuild of derived data (which records a change of every post),
  or more changed posts than :data:`MOST_CHANGES` load everything again.

The answer is what :func:`~herald.intelligence.history.load` gives (the tests compare the two after random
writes). Beside the items, a client's :class:`Tally` of each analysis that keeps one (memory, openers,
patterns, the learned model, the scores: :data:`herald.intelligence.lookups.TALLIES`) is held, made from the
items on first use and then told which posts left and came in, so a read after a write costs the changed
posts and the tally's answer, not a pass over every post. Processes do not share what they hold: each loads
a client once, then follows it. The posts held are bounded (``HERALD_INTELLIGENCE_CACHE_POSTS``,
:func:`configure`): the clients read least recently are dropped first; 0 holds nothing (every read loads).
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import threading
from typing import Any

from ..db import models
from ..db.models import Client, IntelligencePostChange, IntelligenceWindow
from . import history, results
from .history import PostStats
from .tally import Tally

DEFAULT_CAPACITY = 20_000  # posts held (four clients at the 5,000 the analyses read; about 5 KB each)
LOCK_STRIPES = 64  # client locks (see ItemsCache._client_lock)
MOST_CHANGES = 1_000  # more changed posts than this: load everything again (as fast, and simpler)


@dataclasses.dataclass(frozen=True)
class Held:
    """A client's items at a revision (the items are never changed once made: readers share them), and the
    tallies made from them so far (by kind; handed on to the next revision's Held, updated)."""

    revision: int
    timezone: str | None
    items: tuple[PostStats, ...]  # ordered as history.load orders them
    by_id: dict[int, PostStats]
    tallies: dict[str, Tally] = dataclasses.field(default_factory=dict)


class ItemsCache:
    """The clients' items this process holds, least recently used dropped first beyond ``capacity`` posts.
    What concerns one client is done under its lock (one thread brings it up to date)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self._held: collections.OrderedDict[int, Held] = collections.OrderedDict()
        self._locks = tuple(threading.Lock() for _ in range(LOCK_STRIPES))
        self._database = None
        self._lock = threading.Lock()
        self.loads = 0  # whole loads (for tests and benchmarks)
        self.updates = 0  # updates from the changed posts

    def clear(self) -> None:
        """Forget every client."""
        with self._lock:
            self._held.clear()

    def _client_lock(self, client_id: int) -> threading.Lock:
        """The lock of the client's stripe (a fixed set of locks: two clients sharing one wait for each other,
        which is rare and short, and no lock is kept per client ever read)."""
        return self._locks[client_id % LOCK_STRIPES]

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
        with self._client_lock(client.id):
            return list(self._current(workspace_id, client).items)

    def result(self, workspace_id: int, client: Client, kind: str, tally: type[Tally]) -> Any:
        """The analysis ``kind`` of the client's items from its tally (made from the items the first time,
        then kept up to date with them)."""
        with self._client_lock(client.id):
            held = self._current(workspace_id, client)
            if kind not in held.tallies:
                held.tallies[kind] = tally.of(held.items)
            return held.tallies[kind].result(client, held.items)

    def holds(self, client: Client) -> bool:
        """Whether this process holds the client's items (at any revision: :meth:`items` then brings them
        up to date from the posts that changed)."""
        held = self._get(client.id)
        return held is not None and held.timezone == client.timezone

    def _current(self, workspace_id: int, client: Client) -> Held:
        revision = results.revision(client.id)  # before anything is read: what is held is at least this new
        held = self._get(client.id)
        if held is not None and held.timezone == client.timezone:
            if held.revision == revision:
                return held
            updated = self._update(workspace_id, client, held, revision)
            if updated is not None:
                return updated
        self.loads += 1
        items = history.load(workspace_id, client)
        loaded = Held(revision, client.timezone, tuple(items), {item.post_id: item for item in items})
        if self.capacity > 0:
            self._put(client.id, loaded)
        return loaded

    def _update(self, workspace_id: int, client: Client, held: Held, revision: int) -> Held | None:
        """``held`` brought to ``revision`` from the posts that entered, left or changed (its tallies with
        them); None when everything must be loaded again."""
        changed = [post_id for (post_id,) in IntelligencePostChange.select(IntelligencePostChange.post_id)
                   .where((IntelligencePostChange.client_id == client.id)
                          & (IntelligencePostChange.revision >= held.revision)).limit(MOST_CHANGES + 1).tuples()]
        if len(changed) > MOST_CHANGES or any(post_id < 0 for post_id in changed):
            return None
        held_ids = held.by_id.keys()
        window = (IntelligenceWindow.select(IntelligenceWindow.revision)
                  .where(IntelligenceWindow.client_id == client.id).scalar())
        if window is not None and window >= held.revision:  # a post came, went or changed status since
            inside = set(history.newest_ids(workspace_id, client))
            reread = (inside - held_ids) | (inside & set(changed))  # entered, or changed
            dropped = (held_ids - inside) | (reread & held_ids)  # left, or read again
        else:  # the client's newest posts are the ones held: only the changed ones are read again
            reread = dropped = {post_id for post_id in changed if post_id in held.by_id}
        found = history.posts(workspace_id, client, sorted(reread)) if reread else []
        if len(found) != len(reread):  # a post of the window could not be read (it changed meanwhile)
            return None
        by_id = dict(held.by_id)
        gone = [by_id.pop(post_id) for post_id in dropped]
        kept = _without(held.items, gone)
        for item in found:
            by_id[item.post_id] = item
            bisect.insort(kept, item, key=history.order)
        for tally in held.tallies.values():  # the old Held is not read again: its tallies move on
            for item in gone:
                tally.remove(item)
            for item in found:
                tally.add(item)
        self.updates += 1
        updated = Held(revision, client.timezone, tuple(kept), by_id, held.tallies)
        self._put(client.id, updated)
        return updated


def _without(items: tuple[PostStats, ...], gone: list[PostStats]) -> list[PostStats]:
    """``items`` (in :func:`history.order`) without ``gone`` (some of them): each found by bisection when
    they are a few, by one pass when they are many."""
    if len(gone) > 32:
        leaving = {id(item) for item in gone}
        return [item for item in items if id(item) not in leaving]
    kept = list(items)
    for item in gone:
        del kept[bisect.bisect_left(kept, history.order(item), key=history.order)]
    return kept


cache = ItemsCache()


def configure(capacity: int) -> None:
    """Hold at most ``capacity`` posts (``HERALD_INTELLIGENCE_CACHE_POSTS``; 0: hold nothing)."""
    cache.capacity = capacity
    cache.clear()


def holds(client: Client) -> bool:
    """Whether this process holds the client's items (:meth:`ItemsCache.holds`)."""
    return cache.holds(client)


def result(workspace_id: int, client: Client, kind: str, tally: type[Tally]) -> Any:
    """The analysis ``kind`` of the client's items from its tally (:meth:`ItemsCache.result`)."""
    return cache.result(workspace_id, client, kind, tally)


def items(workspace_id: int, client: Client, *, exclude_post: int | None = None) -> list[PostStats]:
    """:func:`herald.intelligence.history.load` of the client, from what this process holds when it can."""
    found = cache.items(workspace_id, client)
    return found if exclude_post is None else [item for item in found if item.post_id != exclude_post]
