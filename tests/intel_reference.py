"""The intelligence analyses written the straightforward way (each a pass over every post, averages with
``statistics.fmean``), as they were before the tallies that follow one changed post at a time: the
reference the tallies' answers are checked against."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter

from herald.db.models import Client
from herald.intelligence.history import INTERACTIONS, PostStats, mean_rate, rated, round_rate
from herald.intelligence.insights import keywords
from herald.intelligence.patterns import CAPTION_DIMENSIONS, DAYS, MIN_SAMPLE, describe, winners
from herald.intelligence.patterns import DIMENSIONS as PATTERN_DIMENSIONS

TOP = 10


def _share(items: list[PostStats], predicate) -> float:
    return round(sum(1 for item in items if predicate(item)) / len(items), 3) if items else 0.0


def voice(client: Client, items: list[PostStats]) -> dict:
    """The client's brand-voice notes and what its captions show (sentence length, emojis, "you", ...)."""
    with_text = [item for item in items if item.features.words]
    observed = {
        "posts": len(with_text),
        "average_sentence_words": round(statistics.fmean([i.features.average_sentence_words for i in with_text]), 1)
        if with_text else None,
        "emojis_per_post": round(statistics.fmean([i.features.emojis for i in with_text]), 2) if with_text else None,
        "exclamations_per_post": round(statistics.fmean([i.features.exclamations for i in with_text]), 2)
        if with_text else None,
        "question_share": _share(with_text, lambda i: i.features.has_question),
        "second_person_share": _share(with_text, lambda i: i.features.second_person),
        "call_to_action_share": _share(with_text, lambda i: i.features.has_cta),
    }
    traits = []
    if with_text:
        sentence = observed["average_sentence_words"]
        traits.append("short, punchy sentences" if sentence <= 12 else
                      "medium-length sentences" if sentence <= 20 else "long sentences")
        if observed["second_person_share"] >= 0.5:
            traits.append("speaks to the reader (\"you\")")
        if observed["emojis_per_post"] >= 1:
            traits.append("uses emojis")
        if observed["exclamations_per_post"] >= 1:
            traits.append("enthusiastic (exclamation marks)")
        if observed["question_share"] >= 0.5:
            traits.append("asks questions")
    return {"notes": client.brand_voice, "observed": observed, "traits": traits}


def topics(items: list[PostStats]) -> dict:
    """The client's topics (the posts' ``topic``) and the most used words of its captions."""
    by_topic: dict[str, list[PostStats]] = {}
    for item in items:
        if item.topic.strip():
            by_topic.setdefault(item.topic.strip(), []).append(item)
    topic_rows = [{"topic": topic, "posts": len(members),
                   "average_engagement_rate": round_rate(mean_rate(members))}
                  for topic, members in by_topic.items()]
    topic_rows.sort(key=lambda row: (-row["posts"], -(row["average_engagement_rate"] or 0), row["topic"]))
    words = Counter(word for item in items for word in item.keywords)
    return {"topics": topic_rows[:TOP],
            "keywords": [{"word": word, "posts": count} for word, count in
                         sorted(words.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP]]}


def hashtags(items: list[PostStats]) -> list[dict]:
    """The most used hashtags, each with how many posts used it and their average engagement rate."""
    users: dict[str, list[PostStats]] = {}
    for item in items:
        for tag in item.features.hashtags:
            users.setdefault(tag, []).append(item)
    rows = [{"hashtag": f"#{tag}", "posts": len(members), "average_engagement_rate": round_rate(mean_rate(members))}
            for tag, members in users.items()]
    rows.sort(key=lambda row: (-row["posts"], -(row["average_engagement_rate"] or 0), row["hashtag"]))
    return rows[:TOP]


def best_times(items: list[PostStats]) -> dict:
    """Days of the week and hours of the day ranked by average engagement rate (client's time zone)."""
    by_day: dict[int, list[PostStats]] = {}
    by_hour: dict[int, list[PostStats]] = {}
    for item in rated(items):
        by_day.setdefault(item.local_when.weekday(), []).append(item)
        by_hour.setdefault(item.local_when.hour, []).append(item)
    days = [{"day": DAYS[day], "posts": len(members), "average_engagement_rate": round_rate(mean_rate(members))}
            for day, members in by_day.items()]
    hours = [{"hour": hour, "posts": len(members), "average_engagement_rate": round_rate(mean_rate(members))}
             for hour, members in by_hour.items()]
    days.sort(key=lambda row: (-row["average_engagement_rate"], -row["posts"], DAYS.index(row["day"])))
    hours.sort(key=lambda row: (-row["average_engagement_rate"], -row["posts"], row["hour"]))
    return {"best_days": days, "best_hours": hours}


def averages(items: list[PostStats]) -> dict:
    """Average engagement (rate and each metric) of posts with engagement, and average caption length."""
    scored = [item for item in items if item.metrics]
    with_rate = rated(items)
    captions = [item for item in items if item.caption.strip()]
    top = sorted(with_rate, key=lambda item: item.rate, reverse=True)[:max(1, len(with_rate) // 4)]
    return {
        "posts": len(items),
        "posts_with_engagement": len(scored),
        "engagement_rate": round_rate(mean_rate(with_rate)),
        "metrics": {name: round(statistics.fmean([item.metrics.get(name) or 0 for item in scored]), 1) if scored
                    else None for name in (*INTERACTIONS, "reach")},
        "caption_length": {
            "average_characters": round(statistics.fmean([i.features.length for i in captions]), 1)
            if captions else None,
            "average_words": round(statistics.fmean([i.features.words for i in captions]), 1) if captions else None,
            "top_quarter_average_characters": round(statistics.fmean([i.features.length for i in top]), 1)
            if with_rate else None,
        },
    }


def brand_memory(client: Client, items: list[PostStats]) -> dict:
    """The brand memory of ``client`` from ``items`` (its posts, see :func:`history.load`)."""
    return {
        "client": {"id": client.id, "name": client.name, "timezone": client.timezone},
        "voice": voice(client, items),
        **topics(items),
        "hashtags": hashtags(items),
        **best_times(items),
        "averages": averages(items),
    }


DIMENSIONS = {"post_type": ("Post type", lambda item: item.post_type), **CAPTION_DIMENSIONS}


def learned_words(item) -> set[str]:
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


def learned_model(history: list[PostStats]) -> dict:
    """The client model the score compares a caption against, from the client's ``history``: the
    baseline, and the count and sum of engagement rates of the posts with each feature value and each
    word (JSON)."""
    past = rated(history)
    return {
        "history_posts": len(past), "posts": len(history), "baseline": mean_rate(past),
        "dimensions": {dimension: _groups((value_of(item), item.rate) for item in past)
                       for dimension, (_, value_of) in DIMENSIONS.items()},
        "words": _groups((word, item.rate) for item in past for word in learned_words(item)),
    }


def pattern_group(items: list[PostStats], dimension: str) -> dict[str, list[PostStats]]:
    """The rated items by their value of ``dimension``."""
    value_of = PATTERN_DIMENSIONS[dimension][1]
    groups: dict[str, list[PostStats]] = {}
    for item in rated(items):
        groups.setdefault(value_of(item), []).append(item)
    return groups


def pattern_evidence(dimension: str, value: str, members: list[PostStats], baseline: float) -> dict:
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


def pattern_analysis(items: list[PostStats], min_sample: int = MIN_SAMPLE) -> dict:
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
    for dimension, (label, _) in PATTERN_DIMENSIONS.items():
        rows = [pattern_evidence(dimension, value, members, baseline)
                for value, members in pattern_group(scored, dimension).items()]
        rows.sort(key=lambda row: (-row["average_engagement_rate"], row["value"]))
        result["dimensions"][dimension] = {"label": label, "values": rows}
    return winners(result, min_sample)


def opener_normalise(line: str) -> str:
    """A first line compared case- and space-insensitively (the same opener reused counts together)."""
    return re.sub(r"\s+", " ", line).strip().lower()


def ranked_openers(items: list[PostStats]) -> list[dict]:
    """Each distinct first line with its uses, how many of those have engagement, and their average rate.

    Openers with engagement come first, best average rate first (ties: more uses first); openers
    without engagement follow, most used first.
    """
    groups: dict[str, list[PostStats]] = {}
    for item in items:
        if item.features.first_line:
            groups.setdefault(opener_normalise(item.features.first_line), []).append(item)
    rows = []
    for members in groups.values():
        with_rate = rated(members)
        newest = members[-1]
        rows.append({
            "hook": newest.features.first_line,
            "hook_style": newest.features.opener_style,
            "uses": len(members),
            "posts_with_engagement": len(with_rate),
            "average_engagement_rate": round_rate(mean_rate(with_rate)),
            "best_engagement_rate": round_rate(max((i.rate for i in with_rate), default=None)),
            "post_ids": [item.post_id for item in members],
        })
    rows.sort(key=lambda row: (row["average_engagement_rate"] is None, -(row["average_engagement_rate"] or 0),
                               -row["uses"], row["hook"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows




def top_openers(items: list[PostStats]) -> dict:
    openers = ranked_openers(items)
    return {"total": len(openers), "hooks": openers[:200]}


def scores(items: list[PostStats]) -> dict:
    scored = [item for item in items if item.score is not None]
    return {
        "posts_scored": len(scored),
        "average": round(statistics.fmean([item.score for item in scored]), 1) if scored else None,
        "posts": [{"post_id": item.post_id, "score": item.score, "first_line": item.features.first_line[:200],
                   "engagement_rate": round_rate(item.rate)}
                  for item in sorted(scored, key=lambda item: (item.when, item.post_id), reverse=True)],
    }
