"""Top openers (``GET /api/intelligence/hooks``): the first lines of a client's posts, ranked by the
engagement of the posts that used them. AI-generated openers (made by an AI provider and stored per
client) are a second list beside these; :func:`generated_openers` is where they come in. The API
calls them hooks; in the code a hook is a pluggy hook."""

from __future__ import annotations

import bisect
import re

from ..db.models import Client, GeneratedOpener, isoformat
from . import exact, tally
from .history import PostStats, round_rate

MAX_LIMIT = 200  # the most openers a report shows (``limit`` of GET /api/intelligence/hooks)
REPLACED_ONE_BY_ONE = 64  # more openers changed than this: sorted again whole rather than moved one by one


def normalise(line: str) -> str:
    """A first line compared case- and space-insensitively (the same opener reused counts together)."""
    return re.sub(r"\s+", " ", line).strip().lower()


class Tally(tally.Tally):
    """:func:`top` of a client's items, kept up to date one post at a time (:meth:`add`, :meth:`remove`):
    per distinct first line, the posts that used it in order, their first lines as written, and the rates
    and exact rate sum of those with engagement."""

    def __init__(self):
        # normalised first line -> [[(when, post_id), ...] in order, {post_id: (line, style)},
        #                           [rates, ascending], exact sum of the rates]
        self.openers: dict[str, list] = {}
        # the openers in report order: (sort key..., normalised first line), kept sorted; each one's entry and
        # average by its line; the lines whose entry changed since (ranked again by the next result)
        self.ranked: list[tuple] = []
        self.ranks: dict[str, tuple[tuple, float | None]] = {}
        self.changed: set[str] = set()

    def count(self, item: PostStats, sign: int) -> None:
        """Count ``item`` in (``sign`` 1) or out (-1)."""
        line = item.features.first_line
        if not line:
            return
        key = normalise(line)
        self.changed.add(key)
        found = self.openers.setdefault(key, [[], {}, [], 0])
        moment = (item.when, item.post_id)
        if sign > 0:
            bisect.insort(found[0], moment)
            found[1][item.post_id] = (line, item.features.opener_style)
        else:
            del found[0][bisect.bisect_left(found[0], moment)]
            del found[1][item.post_id]
        if item.rate is not None:
            if sign > 0:
                bisect.insort(found[2], item.rate)
            else:
                del found[2][bisect.bisect_left(found[2], item.rate)]
            found[3] += sign * item.exact_rate
        if not found[0]:
            del self.openers[key]

    def result(self, client, items) -> dict:
        """:func:`top` of the items this tally counted: only the rows it shows are made whole."""
        self._rank()
        rows = []
        for rank, entry in enumerate(self.ranked[:MAX_LIMIT], start=1):
            members, lines, rates, _ = self.openers[entry[-1]]
            hook, style = lines[members[-1][1]]
            rows.append({"hook": hook, "hook_style": style, "uses": len(members), "posts_with_engagement": len(rates),
                         "average_engagement_rate": self.ranks[entry[-1]][1],
                         "best_engagement_rate": round_rate(rates[-1]) if rates else None,
                         "post_ids": [post_id for _, post_id in members], "rank": rank})
        return {"total": len(self.ranked), "hooks": rows}

    def _rank(self) -> None:
        """Put the openers changed since the last call in their places in :attr:`ranked`: openers with
        engagement first, best average rate first (ties: more uses, then the line as written); then openers
        without engagement, most used first. Many changes (a tally just made) sort everything once."""
        for key in self.changed:
            old = self.ranks.pop(key, None)
            if old is not None and len(self.changed) <= REPLACED_ONE_BY_ONE:
                del self.ranked[bisect.bisect_left(self.ranked, old[0])]
            if key in self.openers:
                members, lines, rates, rate_sum = self.openers[key]
                average = round_rate(exact.mean(rate_sum, len(rates))) if rates else None
                entry = (average is None, -(average or 0), -len(members), lines[members[-1][1]][0], key)
                self.ranks[key] = (entry, average)
                if len(self.changed) <= REPLACED_ONE_BY_ONE:
                    bisect.insort(self.ranked, entry)
        if len(self.changed) > REPLACED_ONE_BY_ONE:
            self.ranked = sorted(entry for entry, _ in self.ranks.values())
        self.changed.clear()


def generated_openers(workspace_id: int, client: Client) -> list[dict]:
    """AI-generated openers for the client (``POST /api/intelligence/populate-hooks``), newest first.

    They have no engagement yet, so they are listed apart from the ranked openers of real posts.
    """
    rows = (GeneratedOpener.select()
            .where((GeneratedOpener.workspace == workspace_id) & (GeneratedOpener.client == client.id))
            .order_by(GeneratedOpener.created_at.desc(), GeneratedOpener.id.desc()))
    return [{"text": row.text, "style": row.style, "created_at": isoformat(row.created_at),
             "job_id": row.job_id} for row in rows]


def build(workspace_id: int, client: Client, items: list[PostStats], limit: int = 50) -> dict:
    """The openers report: ``hooks`` (from the client's posts) and ``generated`` (from an AI provider)."""
    return report(workspace_id, client, top(items), limit)


def top(items: list[PostStats]) -> dict:
    """The openers a report can show: each distinct first line with its uses, how many of those have
    engagement, their average and best rate and the posts (oldest first), the first :data:`MAX_LIMIT`,
    and how many there are (what is stored per client revision; a client may have thousands). Openers
    with engagement come first, best average rate first (ties: more uses first); openers without
    engagement follow, most used first."""
    return Tally.of(items).result(None, items)


def report(workspace_id: int, client: Client, openers: dict, limit: int = 50) -> dict:
    """The openers report (``limit`` at most :data:`MAX_LIMIT`) from the client's :func:`top` openers (the
    generated ones are read here)."""
    return {"client_id": client.id, "total": openers["total"], "hooks": openers["hooks"][:limit],
            "generated": generated_openers(workspace_id, client)}
