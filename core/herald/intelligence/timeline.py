"""A client's history reduced to what the audit reads, stored with the other results of a revision.

The audit (``POST /api/intelligence/analyze-performance`` and the export's ``audit``) covers the
``period`` days before "now" and compares them with the period before: which posts it sees moves with the
clock, so its answer cannot be stored. What it reads of each post does not move: the time, the post type,
the caption's traits the patterns compare (hook style, length, call to action, question, hashtags), the
first line, the score and the engagement. :func:`build` keeps those, ordered by time, as compact JSON
(stored per client revision by :mod:`herald.intelligence.results`); :func:`window` picks the posts of a
time range back out with two binary searches and makes only those, so an audit costs the posts of its
periods, not the walk of the client's history.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import NamedTuple

from . import exact
from .history import PostStats, brief, engagement_rate
from .insights import TOTALS

EPOCH = dt.datetime(1970, 1, 1)
MICROSECOND = dt.timedelta(microseconds=1)


class Traits(NamedTuple):
    """The caption's traits the audit reads (named as :class:`~herald.captions.features.Features` names them)."""

    first_line: str
    opener_style: str
    length_bucket: str
    has_cta: bool
    has_question: bool
    hashtag_bucket: str


class Moment(NamedTuple):
    """One post as the audit sees it (what :class:`~herald.intelligence.history.PostStats` has of it)."""

    post_id: int
    post_type: str
    when: dt.datetime  # naive UTC
    local_when: dt.datetime  # in the client's time zone
    features: Traits
    score: float | None
    metrics: dict[str, int] | None
    rate: float | None

    @property
    def exact_rate(self) -> int | None:
        """:attr:`rate` as :func:`herald.intelligence.exact.scaled` gives it (for the tallies' exact sums)."""
        return None if self.rate is None else exact.scaled(self.rate)

    def brief(self) -> dict:
        """:func:`herald.intelligence.history.brief` of the post."""
        return brief(self)


def _microseconds(value: dt.timedelta) -> int:
    return value // MICROSECOND


def _kinds(item: PostStats) -> tuple:
    """What the post shares with many others: its type and caption traits but the first line."""
    features = item.features
    return (item.post_type, features.opener_style, features.length_bucket, features.has_cta, features.has_question,
            features.hashtag_bucket)


def build(items: list[PostStats]) -> dict:
    """The stored timeline of ``items`` (ordered by ``(when, post_id)``, as :func:`history.load` gives them),
    JSON-ready: a list per column, times as microseconds since 1970 (exact, ordered as the times) and the
    local time as its offset; the type and traits, which few combinations cover, as an index into ``kinds``."""
    kinds: dict[tuple, int] = {}
    for item in items:
        kinds.setdefault(_kinds(item), len(kinds))
    return {
        "post_id": [item.post_id for item in items],
        "when": [_microseconds(item.when - EPOCH) for item in items],
        "offset": [_microseconds(item.local_when - item.when) for item in items],
        "kinds": list(kinds),
        "kind": [kinds[_kinds(item)] for item in items],
        "first_line": [item.features.first_line for item in items],
        "score": [item.score for item in items],
        "metrics": [[item.metrics[name] for name in TOTALS] if item.metrics else None for item in items],
    }


def window(stored: dict, start: dt.datetime, end: dt.datetime) -> list[Moment]:
    """The posts of a stored timeline with ``start <= when < end``, in the timeline's order."""
    times = stored["when"]
    first = bisect.bisect_left(times, _microseconds(start - EPOCH))
    last = bisect.bisect_left(times, _microseconds(end - EPOCH))
    kinds = stored["kinds"]
    moments = []
    for post_id, when, offset, kind, first_line, score, values in zip(
            *(stored[name][first:last] for name in ("post_id", "when", "offset", "kind", "first_line", "score",
                                                    "metrics")), strict=True):
        post_type, *traits = kinds[kind]
        metrics = dict(zip(TOTALS, values, strict=True)) if values is not None else None
        utc = EPOCH + dt.timedelta(microseconds=when)
        moments.append(Moment(post_id, post_type, utc, utc + dt.timedelta(microseconds=offset),
                              Traits(first_line, *traits), score, metrics, engagement_rate(metrics)))
    return moments
