"""The learned scorer: how posts like this one did for this client.

For each feature of the caption (post type, hook style, length, call to action, question,
hashtags) and each of its words and hashtags, it looks up the client's past posts that share it and
compares their average engagement rate with the client's baseline. The lifts, weighted by how many
posts back each one, give a predicted lift; the score is 50 for "as usual", towards 100 for "twice
as good" and more, towards 0 for "half as good" and less. With little history it says so and asks
for little weight (``confidence``).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from ..outcomes import Score
from .history import PostStats, mean_rate, rated, round_rate
from .insights import keywords
from .patterns import CAPTION_DIMENSIONS, describe

MIN_HISTORY = 5  # below this many posts with engagement, the verdict is nearly weightless
FULL_HISTORY = 30  # from this many posts on, the verdict weighs as much as the heuristic one
MIN_SAMPLE = 2  # posts sharing a feature or word before it counts as a signal
MAX_WORDS = 8
LIFT_BOUNDS = (0.1, 10.0)
DIMENSIONS = {"post_type": ("Post type", lambda item: item.post_type), **CAPTION_DIMENSIONS}


def history_confidence(count: int) -> float:
    """How much a verdict from ``count`` posts with engagement should weigh (0..1)."""
    if count < MIN_HISTORY:
        return round(0.02 * count, 3)
    return round(min(1.0, count / FULL_HISTORY), 3)


def value_for_lift(lift: float) -> float:
    """50 at lift 1, about 88 at lift 2, about 12 at lift 0.5 (``50 + 50 tanh(log2 lift)``)."""
    return round(50 + 50 * math.tanh(math.log2(lift)), 1)


def _lift(members: list[PostStats], baseline: float) -> float:
    low, high = LIFT_BOUNDS
    return min(high, max(low, mean_rate(members) / baseline))


def _words(item) -> set[str]:
    known = getattr(item, "keywords", None)  # stored with the post; a caller's own candidate may lack it
    words = set(known) if known is not None else set(keywords(item.caption))
    return words | {f"#{tag}" for tag in item.features.hashtags}


def signals(candidate, history: list[PostStats], baseline: float) -> list[dict]:
    """Features and words the candidate shares with at least :data:`MIN_SAMPLE` (not all) past posts."""
    found = []
    for dimension, (_, value_of) in DIMENSIONS.items():
        value = value_of(candidate)
        members = [item for item in history if value_of(item) == value]
        if MIN_SAMPLE <= len(members) < len(history):
            found.append({"kind": "feature", "dimension": dimension, "value": value,
                          "pattern": describe(dimension, value), "sample_size": len(members),
                          "average_engagement_rate": round_rate(mean_rate(members)),
                          "lift": round(_lift(members, baseline), 3)})
    words = []
    history_words = [(item, _words(item)) for item in history]
    for word in sorted(_words(candidate)):
        members = [item for item, item_words in history_words if word in item_words]
        if MIN_SAMPLE <= len(members) < len(history):
            words.append({"kind": "word", "word": word, "sample_size": len(members),
                          "average_engagement_rate": round_rate(mean_rate(members)),
                          "lift": round(_lift(members, baseline), 3)})
    words.sort(key=lambda row: (-row["sample_size"], -abs(math.log(row["lift"])), row["word"]))
    return found + words[:MAX_WORDS]


def evaluate(candidate, history: list[PostStats]) -> Score:
    """The learned :class:`Score` of ``candidate`` (anything with ``caption``, ``post_type`` and
    ``features``) against the client's ``history``."""
    past = rated(history)
    count = len(past)
    baseline = mean_rate(past)
    details = {"history_posts": count, "posts_without_engagement": len(history) - count,
               "baseline_engagement_rate": round_rate(baseline), "signals": []}
    if count == 0 or not baseline:
        reason = ("No engagement history for this client yet, so nothing to learn from: record engagement "
                  "(update_engagement, POST /api/intelligence/engagement) to make this score count.")
        if count and not baseline:
            reason = f"{count} past posts have engagement, all with a rate of 0: nothing to compare with."
        return Score(50.0, [reason], confidence=0.0, details=details)
    found = signals(candidate, past, baseline)
    details["signals"] = found
    confidence = history_confidence(count)
    history_note = (f"Learned from {count} past posts with engagement (baseline engagement rate "
                    f"{baseline:.2%})")
    if count < MIN_HISTORY:
        history_note += f"; fewer than {MIN_HISTORY}, so this score gets little weight"
    if not found:
        return Score(50.0, [history_note + ".", "None of this caption's features or words appear in at least "
                            f"{MIN_SAMPLE} of those posts (and not all of them): no signal either way."],
                     confidence=0.0, details=details)
    total = sum(row["sample_size"] for row in found)
    lift = math.exp(sum(row["sample_size"] * math.log(row["lift"]) for row in found) / total)
    details["predicted_lift"] = round(lift, 3)
    details["predicted_engagement_rate"] = round_rate(baseline * lift)
    reasons = [history_note + f"; predicted engagement rate {baseline * lift:.2%} ({lift:.2f}x the baseline)."]
    for row in sorted(found, key=lambda row: -abs(math.log(row["lift"])))[:5]:
        what = row["pattern"] if row["kind"] == "feature" else f"posts using \"{row['word']}\""
        reasons.append(f"{what.capitalize()} averaged {row['average_engagement_rate']:.2%} "
                       f"({row['lift']:.2f}x, {row['sample_size']} posts).")
    return Score(value_for_lift(lift), reasons, confidence=confidence, details=details)


class LearnedScorer:
    """The built-in ``learned`` scorer (registered by :mod:`herald.default_plugins.scorers`)."""

    name = "learned"

    def score(self, post, context) -> Score:
        """Score ``post`` against the client's engagement history (``context.history()``)."""
        candidate = SimpleNamespace(caption=post.caption, post_type=post.post_type, features=post.features,
                                    keywords=keywords(post.caption))
        if context.client is None:
            return Score(50.0, ["No client_id given: there is no history to learn from."], confidence=0.0,
                         details={"history_posts": 0})
        return evaluate(candidate, context.history())
