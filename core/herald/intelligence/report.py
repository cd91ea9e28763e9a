"""The full intelligence report of a client as one JSON document: memory, hooks, patterns, audit
and the scores stored on its posts."""

from __future__ import annotations

import bisect
import datetime as dt
import json
import operator

from ..db.models import Client, isoformat
from . import audit, exact, memory, openers, patterns, tally
from .history import PostStats, round_rate
from .results import Json

REPORT_VERSION = 1


class ScoresTally(tally.Tally):
    """:func:`scores` of a client's items, kept up to date one post at a time (:meth:`add`, :meth:`remove`):
    each scored post's entry as JSON text, in order, and the exact sum of the scores. Its answer is JSON
    text (:class:`~herald.intelligence.results.Json`): the entries are joined, never encoded again."""

    def __init__(self):
        self.entries: list[tuple] = []  # ((when, post_id), entry as JSON), oldest first
        self.total = 0  # exact.scaled sum of the scores

    def count(self, item: PostStats, sign: int) -> None:
        """Count ``item`` in (``sign`` 1) or out (-1)."""
        if item.score is None:
            return
        if sign > 0:
            entry = {"post_id": item.post_id, "score": item.score, "first_line": item.features.first_line[:200],
                     "engagement_rate": round_rate(item.rate)}
            bisect.insort(self.entries, ((item.when, item.post_id), json.dumps(entry, separators=(",", ":"))))
        else:
            del self.entries[bisect.bisect_left(self.entries, ((item.when, item.post_id),))]
        self.total += sign * exact.scaled(item.score)

    def result(self, client, items) -> Json:
        """:func:`scores` of the items this tally counted, as JSON text."""
        count = len(self.entries)
        average = json.dumps(round(exact.mean(self.total, count), 1) if count else None)
        posts = ",".join(map(operator.itemgetter(1), reversed(self.entries)))
        return Json(f'{{"posts_scored":{count},"average":{average},"posts":[{posts}]}}')


def scores(items: list[PostStats]) -> dict:
    """The scores stored on the client's posts (newest first) and their average."""
    return json.loads(ScoresTally.of(items).result(None, items))


def build(workspace_id: int, client: Client, items: list[PostStats], *, period_days: int,
          now: dt.datetime) -> dict:
    """Everything Herald knows about the client's content, computed from ``items`` (see :func:`history.load`);
    :func:`herald.intelligence.lookups.report` answers the same from the stored results."""
    return assemble(client, now, memory=memory.build(client, items), hooks=openers.build(workspace_id, client, items),
                    patterns=patterns.analyse(items), audit=audit.run(client, items, period_days, now),
                    scores=scores(items))


def assemble(client: Client, now: dt.datetime, *, memory: dict, hooks: dict, patterns: dict, audit: dict,
             scores: dict) -> dict:
    """The report document from its parts."""
    return {
        "report_version": REPORT_VERSION,
        "generated_at": isoformat(now),
        "client": {"id": client.id, "name": client.name, "timezone": client.timezone},
        "memory": memory,
        "hooks": hooks,
        "patterns": patterns,
        "audit": audit,
        "scores": scores,
    }
