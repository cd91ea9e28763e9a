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
from . import items, lookups
from .history import PostStats, round_rate
from .insights import keywords
from .learned_model import DIMENSIONS, model, words
from .patterns import describe

MIN_HISTORY = 5  # below this many posts with engagement, the verdict is nearly weightless
FULL_HISTORY = 30  # from this many posts on, the verdict weighs as much as the heuristic one
MIN_SAMPLE = 2  # posts sharing a feature or word before it counts as a signal
MAX_WORDS = 8
LIFT_BOUNDS = (0.1, 10.0)


def history_confidence(count: int) -> float:
    """How much a verdict from ``count`` posts with engagement should weigh (0..1)."""
    if count < MIN_HISTORY:
        return round(0.02 * count, 3)
    return round(min(1.0, count / FULL_HISTORY), 3)


def value_for_lift(lift: float) -> float:
    """50 at lift 1, about 88 at lift 2, about 12 at lift 0.5 (``50 + 50 tanh(log2 lift)``)."""
    return round(50 + 50 * math.tanh(math.log2(lift)), 1)


def _signal(group: list | None, count: int, baseline: float) -> dict | None:
    if group is None or not MIN_SAMPLE <= group[0] < count:
        return None
    average = group[1] / group[0]
    low, high = LIFT_BOUNDS
    return {"sample_size": group[0], "average_engagement_rate": round_rate(average),
            "lift": round(min(high, max(low, average / baseline)), 3)}


def signals(candidate, client_model: dict) -> list[dict]:
    """Features and words the candidate shares with at least :data:`MIN_SAMPLE` (not all) past posts
    with engagement."""
    count, baseline = client_model["history_posts"], client_model["baseline"]
    found = []
    for dimension, (_, value_of) in DIMENSIONS.items():
        value = value_of(candidate)
        signal = _signal(client_model["dimensions"][dimension].get(value), count, baseline)
        if signal is not None:
            found.append({"kind": "feature", "dimension": dimension, "value": value,
                          "pattern": describe(dimension, value), **signal})
    shared = []
    for word in sorted(words(candidate)):
        signal = _signal(client_model["words"].get(word), count, baseline)
        if signal is not None:
            shared.append({"kind": "word", "word": word, **signal})
    shared.sort(key=lambda row: (-row["sample_size"], -abs(math.log(row["lift"])), row["word"]))
    return found + shared[:MAX_WORDS]


def evaluate(candidate, history: list[PostStats]) -> Score:
    """The learned :class:`Score` of ``candidate`` (anything with ``caption``, ``post_type`` and
    ``features``) against the client's ``history``."""
    return evaluate_model(candidate, model(history))


def evaluate_model(candidate, client_model: dict) -> Score:
    """The learned :class:`Score` of ``candidate`` against a client :func:`model`."""
    count = client_model["history_posts"]
    baseline = client_model["baseline"]
    details = {"history_posts": count, "posts_without_engagement": client_model["posts"] - count,
               "baseline_engagement_rate": round_rate(baseline), "signals": []}
    if count == 0 or not baseline:
        reason = ("No engagement history for this client yet, so nothing to learn from: record engagement "
                  "(update_engagement, POST /api/intelligence/engagement) to make this score count.")
        if count and not baseline:
            reason = f"{count} past posts have engagement, all with a rate of 0: nothing to compare with."
        return Score(50.0, [reason], confidence=0.0, details=details)
    found = signals(candidate, client_model)
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


def client_model(workspace_id: int, client, *, exclude_post: int | None = None) -> dict:
    """The client's :func:`model`, stored per client revision (:func:`herald.intelligence.lookups.client_model`).

    Scoring a stored post leaves that post out of its history: when it is one of the client's analysed
    posts (:func:`herald.intelligence.items.items`), the model is made again without it (not stored).
    """
    if exclude_post is not None:
        history = items.items(workspace_id, client)
        if any(item.post_id == exclude_post for item in history):
            return model([item for item in history if item.post_id != exclude_post])
    return lookups.client_model(workspace_id, client)


class LearnedScorer:
    """The built-in ``learned`` scorer (registered by :mod:`herald.default_plugins.scorers`)."""

    name = "learned"

    def score(self, post, context) -> Score:
        """Score ``post`` against the client's stored model of its engagement history (:func:`client_model`)."""
        candidate = SimpleNamespace(caption=post.caption, post_type=post.post_type, features=post.features,
                                    keywords=keywords(post.caption))
        if context.client is None:
            return Score(50.0, ["No client_id given: there is no history to learn from."], confidence=0.0,
                         details={"history_posts": 0})
        return evaluate_model(candidate, client_model(context.workspace_id, context.client,
                                                      exclude_post=context.exclude_post))
