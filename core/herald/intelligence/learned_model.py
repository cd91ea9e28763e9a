"""The client model of the learned scorer (:mod:`herald.intelligence.learned`): for each caption feature
value and each word of a client's past posts with engagement, how many posts had it and the exact sum of
their engagement rates. It is one of the results stored per client revision
(:mod:`herald.intelligence.lookups`); scoring a caption compares against it."""

from __future__ import annotations

from . import exact, tally
from .history import PostStats
from .insights import keywords
from .patterns import CAPTION_DIMENSIONS

DIMENSIONS = {"post_type": ("Post type", lambda item: item.post_type), **CAPTION_DIMENSIONS}


def words(item) -> set[str]:
    """The caption's significant words and its hashtags (``#tag``) of ``item`` (a post or a candidate)."""
    known = getattr(item, "keywords", None)  # stored with the post; a caller's own candidate may lack it
    found = set(known) if known is not None else set(keywords(item.caption))
    return found | {f"#{tag}" for tag in item.features.hashtags}


class Tally(tally.Tally):
    """:func:`model` of a client's items, kept up to date one post at a time (:meth:`add`, :meth:`remove`):
    per feature value and word, how many posts with engagement had it and the exact sum of their rates."""

    def __init__(self):
        self.rated = [0, 0]  # posts with a rate, exact.scaled sum of their rates
        self.dimensions: dict[str, dict[str, list[int]]] = {dimension: {} for dimension in DIMENSIONS}
        self.words: dict[str, list[int]] = {}

    def count(self, item: PostStats, sign: int) -> None:
        """Count ``item`` in (``sign`` 1) or out (-1)."""
        rate = item.exact_rate
        if rate is None:
            return
        self.rated[0] += sign
        self.rated[1] += sign * rate
        for dimension, (_, value_of) in DIMENSIONS.items():
            exact.bump(self.dimensions[dimension], value_of(item), rate, sign)
        for word in words(item):
            exact.bump(self.words, word, rate, sign)

    def result(self, client, items) -> dict:
        """The client model (JSON) of ``items``, the items this tally counted (in their order)."""
        count, rate_sum = self.rated
        return {
            "history_posts": count, "posts": len(items), "baseline": exact.mean(rate_sum, count) if count else None,
            "dimensions": {dimension: _sums(groups) for dimension, groups in self.dimensions.items()},
            "words": _sums(self.words),
        }


def _sums(groups: dict[str, list[int]]) -> dict[str, list]:
    """``[count, exact sum of rates]`` per key (``fsum / count`` is what
    :func:`~herald.intelligence.history.mean_rate` answers for the posts sharing the key)."""
    return {key: [count, exact.total(rate_sum)] for key, (count, rate_sum) in groups.items()}


def model(history: list[PostStats]) -> dict:
    """The client model the score compares a caption against, from the client's ``history``: the
    baseline, and the count and sum of engagement rates of the posts with each feature value and each
    word (JSON)."""
    return Tally.of(history).result(None, history)
