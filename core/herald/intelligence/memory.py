"""Brand memory: what a client's own posts say about its voice, topics, hashtags, best days and
hours (in the client's time zone) and averages."""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter

from ..db.models import Client
from .history import INTERACTIONS, PostStats, mean_rate, rated, round_rate
from .patterns import DAYS

TOP = 10


def _mean(values: list) -> float:
    """``statistics.fmean`` of a non-empty list (the exact sum, divided once)."""
    return math.fsum(values) / len(values)


def _share(flags: list, total: int) -> float:
    return round(sum(flags) / total, 3) if total else 0.0


def voice(client: Client, items: list[PostStats]) -> dict:
    """The client's brand-voice notes and what its captions show (sentence length, emojis, "you", ...)."""
    with_text = [item.features for item in items if item.features.words]
    observed = {
        "posts": len(with_text),
        "average_sentence_words": round(_mean([f.average_sentence_words for f in with_text]), 1)
        if with_text else None,
        "emojis_per_post": round(_mean([f.emojis for f in with_text]), 2) if with_text else None,
        "exclamations_per_post": round(_mean([f.exclamations for f in with_text]), 2) if with_text else None,
        "question_share": _share([f.has_question for f in with_text], len(with_text)),
        "second_person_share": _share([f.second_person for f in with_text], len(with_text)),
        "call_to_action_share": _share([f.cta is not None for f in with_text], len(with_text)),
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


def _most_used(rates_by_key: dict[str, list], label: str, key_of=lambda key: key) -> list[dict]:
    """The :data:`TOP` keys used by the most posts (ties: the best average rate, then the key), each with
    its posts and average engagement rate; ``rates_by_key`` holds each key's posts' rates (None without).
    Averages are computed only for the keys that can still make the list."""
    counts = sorted((len(rates) for rates in rates_by_key.values()), reverse=True)
    least = counts[TOP - 1] if len(counts) >= TOP else 0
    rows = []
    for key, rates in rates_by_key.items():
        if len(rates) >= least:
            rated_ = [rate for rate in rates if rate is not None]
            rows.append({label: key_of(key), "posts": len(rates),
                         "average_engagement_rate": round_rate(_mean(rated_)) if rated_ else None})
    rows.sort(key=lambda row: (-row["posts"], -(row["average_engagement_rate"] or 0), row[label]))
    return rows[:TOP]


def topics(items: list[PostStats]) -> dict:
    """The client's topics (the posts' ``topic``) and the most used words of its captions."""
    by_topic: dict[str, list] = {}
    for item in items:
        topic = item.topic.strip()
        if topic:
            by_topic.setdefault(topic, []).append(item.rate)
    words = Counter(itertools.chain.from_iterable(item.keywords for item in items))
    top_words = heapq.nsmallest(TOP, words.items(), key=lambda pair: (-pair[1], pair[0]))
    return {"topics": _most_used(by_topic, "topic"),
            "keywords": [{"word": word, "posts": count} for word, count in top_words]}


def hashtags(items: list[PostStats]) -> list[dict]:
    """The most used hashtags, each with how many posts used it and their average engagement rate."""
    users: dict[str, list] = {}
    for item in items:
        tags = item.features.hashtags
        if tags:
            rate = item.rate
            for tag in tags:
                users.setdefault(tag, []).append(rate)
    return _most_used(users, "hashtag", lambda tag: f"#{tag}")


def best_times(items: list[PostStats]) -> dict:
    """Days of the week and hours of the day ranked by average engagement rate (client's time zone)."""
    by_day: dict[int, list[float]] = {}
    by_hour: dict[int, list[float]] = {}
    for item in items:
        rate = item.rate
        if rate is not None:
            local = item.local_when
            by_day.setdefault(local.weekday(), []).append(rate)
            by_hour.setdefault(local.hour, []).append(rate)
    days = [{"day": DAYS[day], "posts": len(rates), "average_engagement_rate": round_rate(_mean(rates))}
            for day, rates in by_day.items()]
    hours = [{"hour": hour, "posts": len(rates), "average_engagement_rate": round_rate(_mean(rates))}
             for hour, rates in by_hour.items()]
    days.sort(key=lambda row: (-row["average_engagement_rate"], -row["posts"], DAYS.index(row["day"])))
    hours.sort(key=lambda row: (-row["average_engagement_rate"], -row["posts"], row["hour"]))
    return {"best_days": days, "best_hours": hours}


def averages(items: list[PostStats]) -> dict:
    """Average engagement (rate and each metric) of posts with engagement, and average caption length."""
    scored = [item.metrics for item in items if item.metrics]
    with_rate = rated(items)
    captions = [item.features for item in items if item.caption.strip()]
    top = sorted(with_rate, key=lambda item: item.rate, reverse=True)[:max(1, len(with_rate) // 4)]
    return {
        "posts": len(items),
        "posts_with_engagement": len(scored),
        "engagement_rate": round_rate(mean_rate(with_rate)),
        "metrics": {name: round(_mean([metrics.get(name) or 0 for metrics in scored]), 1) if scored
                    else None for name in (*INTERACTIONS, "reach")},
        "caption_length": {
            "average_characters": round(_mean([f.length for f in captions]), 1) if captions else None,
            "average_words": round(_mean([f.words for f in captions]), 1) if captions else None,
            "top_quarter_average_characters": round(_mean([i.features.length for i in top]), 1)
            if with_rate else None,
        },
    }


def build(client: Client, items: list[PostStats]) -> dict:
    """The brand memory of ``client`` from ``items`` (its posts, see :func:`history.load`)."""
    return {
        "client": {"id": client.id, "name": client.name, "timezone": client.timezone},
        "voice": voice(client, items),
        **topics(items),
        "hashtags": hashtags(items),
        **best_times(items),
        "averages": averages(items),
    }
