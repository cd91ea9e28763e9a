"""Winning patterns: which post types, lengths, times, days and hook styles beat the client's own
baseline engagement rate, with the evidence (sample size, average rate, lift over the baseline)."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from .history import PostStats, mean_rate, rated, round_rate

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


def group(items: list[PostStats], dimension: str) -> dict[str, list[PostStats]]:
    """The rated items by their value of ``dimension``."""
    value_of = DIMENSIONS[dimension][1]
    groups: dict[str, list[PostStats]] = {}
    for item in rated(items):
        groups.setdefault(value_of(item), []).append(item)
    return groups


def evidence(dimension: str, value: str, members: list[PostStats], baseline: float) -> dict:
    """What backs one value of a dimension: sample size, average rate, lift over the baseline."""
    average = mean_rate(members)
    lift = average / baseline if baseline else None
    best = sorted(members, key=lambda item: item.rate, reverse=True)[:3]
    return {
        "dimension": dimension,
        "value": value,
        "pattern": describe(dimension, value),
        "sample_size": len(members),
        "average_engagement_rate": round_rate(average),
        "median_engagement_rate": round_rate(statistics.median(item.rate for item in members)),
        "baseline_engagement_rate": round_rate(baseline),
        "lift": round(lift, 3) if lift is not None else None,
        "example_post_ids": [item.post_id for item in best],
    }


def analyse(items: list[PostStats], min_sample: int = MIN_SAMPLE) -> dict:
    """Every dimension's values with their evidence, and the winning patterns (best lift first).

    A winning pattern has at least ``min_sample`` posts and an average rate at least
    :data:`WINNING_LIFT` times the baseline (the mean rate of every post with engagement).
    """
    scored = rated(items)
    baseline = mean_rate(scored)
    result = {
        "posts_analysed": len(scored),
        "posts_without_engagement": len(items) - len(scored),
        "baseline_engagement_rate": round_rate(baseline),
        "min_sample": min_sample,
        "patterns": [],
        "weak_patterns": [],
        "dimensions": {},
    }
    if not scored or not baseline:
        return result
    for dimension, (label, _) in DIMENSIONS.items():
        rows = [evidence(dimension, value, members, baseline) for value, members in group(scored, dimension).items()]
        rows.sort(key=lambda row: (-row["average_engagement_rate"], row["value"]))
        result["dimensions"][dimension] = {"label": label, "values": rows}
    return winners(result, min_sample)


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
