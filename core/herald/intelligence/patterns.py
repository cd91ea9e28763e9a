"""Winning patterns: which post types, lengths, times, days and hook styles beat the client's own
baseline engagement rate, with the evidence (sample size, average rate, lift over the baseline)."""

from __future__ import annotations

import bisect
from collections.abc import Callable

from . import exact, tally
from .history import PostStats, round_rate

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MIN_SAMPLE = 3  # fewer posts than this with a value is an anecdote, not a pattern
WINNING_LIFT = 1.1  # at least 10 % above the baseline


def time_of_day(item: PostStats) -> str:
    """``morning`` (5-12 h), ``afternoon`` (12-17 h), ``evening`` (17-22 h) or ``night``, client's time."""
    hour = item.local_when.hour
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    return "evening" if 17 <= hour < 22 else "night"


# dimension -> (what it is, value of a post). The caption ones also drive the learned scorer.
CAPTION_DIMENSIONS: dict[str, tuple[str, Callable[[PostStats], str]]] = {
    "hook_style": ("Hook style of the first line", lambda item: item.features.opener_style),
    "length": ("Caption length", lambda item: item.features.length_bucket),
    "call_to_action": ("Call to action", lambda item: "with" if item.features.has_cta else "without"),
    "question": ("Asks a question", lambda item: "with" if item.features.has_question else "without"),
    "hashtags": ("Number of hashtags", lambda item: item.features.hashtag_bucket),
}
DIMENSIONS: dict[str, tuple[str, Callable[[PostStats], str]]] = {
    "post_type": ("Post type", lambda item: item.post_type),
    **CAPTION_DIMENSIONS,
    "time_of_day": ("Time of day (client's time zone)", time_of_day),
    "day_of_week": ("Day of the week (client's time zone)", lambda item: DAYS[item.local_when.weekday()]),
}


def describe(dimension: str, value: str) -> str:
    """A phrase for a pattern: ``question hooks``, ``posts on Tuesday``, ``captions with a call to action``."""
    phrases = {
        "post_type": f"{value} posts",
        "hook_style": f"{value.replace('_', '-')} hooks",
        "length": f"{value.replace('_', ' ')} captions",
        "call_to_action": f"captions {value} a call to action",
        "question": f"captions {value} a question",
        "hashtags": f"posts with {value} hashtags" if value != "none" else "posts without hashtags",
        "time_of_day": f"posts in the {value}" if value != "night" else "posts at night",
        "day_of_week": f"posts on {value}",
    }
    return phrases.get(dimension, f"{dimension} = {value}")


class Tally(tally.Tally):
    """:func:`analyse` of a client's items, kept up to date one post at a time (:meth:`add`,
    :meth:`remove`): per dimension and value, the posts with a rate (ordered by rate, then time), their
    count and the exact sum of their rates."""

    def __init__(self):
        self.rated = [0, 0]  # posts with a rate, exact sum of their rates
        # dimension -> value -> [posts, exact sum, [(-rate, when, post_id), ...] in order]
        self.values: dict[str, dict[str, list]] = {dimension: {} for dimension in DIMENSIONS}

    @classmethod
    def of(cls, items) -> Tally:
        """The tally of ``items`` (posts, or the audit's moments): each value's posts gathered, then ordered
        once (what :meth:`add` would make one post at a time)."""
        made = cls()
        dimensions = [(made.values[dimension], value_of) for dimension, (_, value_of) in DIMENSIONS.items()]
        for item in items:
            rate = item.exact_rate
            if rate is None:
                continue
            made.rated[0] += 1
            made.rated[1] += rate
            key = (-item.rate, item.when, item.post_id)
            for values, value_of in dimensions:
                found = values.setdefault(value_of(item), [0, 0, []])
                found[0] += 1
                found[1] += rate
                found[2].append(key)
        for values, _ in dimensions:
            for found in values.values():
                found[2].sort()
        return made

    def count(self, item: PostStats, sign: int) -> None:
        """Count ``item`` in (``sign`` 1) or out (-1)."""
        rate = item.exact_rate
        if rate is None:
            return
        self.rated[0] += sign
        self.rated[1] += sign * rate
        key = (-item.rate, item.when, item.post_id)
        for dimension, (_, value_of) in DIMENSIONS.items():
            values = self.values[dimension]
            value = value_of(item)
            found = values.get(value)
            if found is None:
                found = values[value] = [0, 0, []]
            found[0] += sign
            found[1] += sign * rate
            if sign > 0:
                bisect.insort(found[2], key)
            elif found[0]:
                del found[2][bisect.bisect_left(found[2], key)]
            else:
                del values[value]

    def result(self, client, items, min_sample: int = MIN_SAMPLE) -> dict:
        """:func:`analyse` of the items this tally counted."""
        count, rate_sum = self.rated
        baseline = exact.mean(rate_sum, count) if count else None
        result = {
            "posts_analysed": count,
            "posts_without_engagement": len(items) - count,
            "baseline_engagement_rate": round_rate(baseline),
            "min_sample": min_sample,
            "patterns": [],
            "weak_patterns": [],
            "dimensions": {},
        }
        if not count or not baseline:
            return result
        for dimension, (label, _) in DIMENSIONS.items():
            rows = [evidence(dimension, value, members, baseline) for value, members in self.values[dimension].items()]
            rows.sort(key=lambda row: (-row["average_engagement_rate"], row["value"]))
            result["dimensions"][dimension] = {"label": label, "values": rows}
        return winners(result, min_sample)


def evidence(dimension: str, value: str, members: list, baseline: float) -> dict:
    """What backs one value of a dimension: sample size, average rate, lift over the baseline, from its
    ``[posts, exact sum of rates, [(-rate, when, post_id), ...] ordered]``."""
    count, rate_sum, ordered = members
    average = exact.mean(rate_sum, count)
    lift = average / baseline if baseline else None
    middle = count // 2  # the median of rates ordered best first is the median of them ordered the other way
    median = -ordered[middle][0] if count % 2 else (-ordered[middle - 1][0] + -ordered[middle][0]) / 2
    return {
        "dimension": dimension,
        "value": value,
        "pattern": describe(dimension, value),
        "sample_size": count,
        "average_engagement_rate": round_rate(average),
        "median_engagement_rate": round_rate(median),
        "baseline_engagement_rate": round_rate(baseline),
        "lift": round(lift, 3) if lift is not None else None,
        "example_post_ids": [post_id for _, _, post_id in ordered[:3]],
    }


def analyse(items: list[PostStats], min_sample: int = MIN_SAMPLE) -> dict:
    """Every dimension's values with their evidence, and the winning patterns (best lift first).

    A winning pattern has at least ``min_sample`` posts and an average rate at least
    :data:`WINNING_LIFT` times the baseline (the mean rate of every post with engagement).
    """
    return Tally.of(items).result(None, items, min_sample)


def winners(analysis: dict, min_sample: int) -> dict:
    """``analysis`` (of :func:`analyse`) with its winning and weak patterns chosen for ``min_sample``: the
    evidence of every value does not depend on it, so one stored analysis answers every ``min_sample``."""
    result = {**analysis, "min_sample": min_sample, "patterns": [], "weak_patterns": []}
    for dimension in result["dimensions"].values():
        for row in dimension["values"]:
            if row["sample_size"] < min_sample:
                continue
            if row["lift"] >= WINNING_LIFT:
                result["patterns"].append(row)
            elif row["lift"] <= 1 / WINNING_LIFT:
                result["weak_patterns"].append(row)
    result["patterns"].sort(key=lambda row: (-row["lift"], -row["sample_size"]))
    result["weak_patterns"].sort(key=lambda row: (row["lift"], -row["sample_size"]))
    return result
