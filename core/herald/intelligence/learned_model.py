"""The client model of the learned scorer (:mod:`herald.intelligence.learned`): for each caption feature
value and each word of a client's past posts with engagement, how many posts had it and the exact sum of
their engagement rates. It is one of the results stored per client revision
(:mod:`herald.intelligence.lookups`); scoring a caption compares against it."""

from __future__ import annotations

import math

from .history import PostStats, mean_rate, rated
from .insights import keywords
from .patterns import CAPTION_DIMENSIONS

DIMENSIONS = {"post_type": ("Post type", lambda item: item.post_type), **CAPTION_DIMENSIONS}


def words(item) -> set[str]:
    """The caption's significant words and its hashtags (``#tag``) of ``item`` (a post or a candidate)."""
    known = getattr(item, "keywords", None)  # stored with the post; a caller's own candidate may lack it
    found = set(known) if known is not None else set(keywords(item.caption))
    return found | {f"#{tag}" for tag in item.features.hashtags}


def _groups(pairs) -> dict[str, list]:
    """``[count, exact sum of rates]`` per key of ``(key, rate)`` pairs: what an average over the posts
    sharing a key needs (``fsum / count`` is what :func:`~herald.intelligence.history.mean_rate` answers)."""
    rates: dict[str, list[float]] = {}
    for key, rate in pairs:
        rates.setdefault(key, []).append(rate)
    return {key: [len(values), math.fsum(values)] for key, values in rates.items()}


def model(history: list[PostStats]) -> dict:
    """The client model the score compares a caption against, from the client's ``history``: the
    baseline, and the count and sum of engagement rates of the posts with each feature value and each
    word (JSON)."""
    past = rated(history)
    return {
        "history_posts": len(past), "posts": len(history), "baseline": mean_rate(past),
        "post_ids": [item.post_id for item in history],
        "dimensions": {dimension: _groups((value_of(item), item.rate) for item in past)
                       for dimension, (_, value_of) in DIMENSIONS.items()},
        "words": _groups((word, item.rate) for item in past for word in words(item)),
    }
