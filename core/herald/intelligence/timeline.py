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

from .history import PostStats, brief, engagement_rate
from .insights import TOTALS

EPOCH = dt.datetime(1970, 1, 1)
MICROSECOND = dt.timedelta(microseconds=1)
COLUMNS = ("post_id", "when", "local_when", "post_type", "first_line", "opener_style", "length_bucket", "has_cta",
           "has_question", "hashtag_bucket", "score", "metrics")


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

    def brief(self) -> dict:
        """:func:`herald.intelligence.history.brief` of the post."""
        return brief(self)


def _microseconds(value: dt.datetime) -> int:
    """A naive time as whole microseconds since 1970 (exact, and ordered as the times are)."""
    return (value - EPOCH) // MICROSECOND


def build(items: list[PostStats]) -> dict:
    """The stored timeline of ``items`` (ordered by ``(when, post_id)``, as :func:`history.load` gives them):
    one list per column of :data:`COLUMNS`, JSON-ready."""
    return {
        "post_id": [item.post_id for item in items],
        "when": [_microseconds(item.when) for item in items],
        "local_when": [_microseconds(item.local_when) for item in items],
        "post_type": [item.post_type for item in items],
        "first_line": [item.features.first_line for item in items],
        "opener_style": [item.features.opener_style for item in items],
        "length_bucket": [item.features.length_bucket for item in items],
        "has_cta": [item.features.has_cta for item in items],
        "has_question": [item.features.has_question for item in items],
        "hashtag_bucket": [item.features.hashtag_bucket for item in items],
        "score": [item.score for item in items],
        "metrics": [[item.metrics[name] for name in TOTALS] if item.metrics else None for item in items],
    }


def window(stored: dict, start: dt.datetime, end: dt.datetime) -> list[Moment]:
    """The posts of a stored timeline with ``start <= when < end``, in the timeline's order."""
    times = stored["when"]
    first, last = bisect.bisect_left(times, _microseconds(start)), bisect.bisect_left(times, _microseconds(end))
    moments = []
    for index in range(first, last):
        values = stored["metrics"][index]
        metrics = dict(zip(TOTALS, values, strict=True)) if values is not None else None
        moments.append(Moment(
            post_id=stored["post_id"][index], post_type=stored["post_type"][index],
            when=EPOCH + times[index] * MICROSECOND, local_when=EPOCH + stored["local_when"][index] * MICROSECOND,
            features=Traits(*(stored[name][index] for name in Traits._fields)), score=stored["score"][index],
            metrics=metrics, rate=engagement_rate(metrics)))
    return moments
