"""Brand memory: what a client's own posts say about its voice, topics, hashtags, best days and
hours (in the client's time zone) and averages."""

from __future__ import annotations

import bisect
import heapq

from ..db.models import Client
from . import exact, tally
from .history import INTERACTIONS, PostStats, round_rate
from .patterns import DAYS

TOP = 10


class Tally(tally.Tally):
    """:func:`build` of a client's items, kept up to date one post at a time (:meth:`add`, :meth:`remove`):
    counts, exact sums (:mod:`herald.intelligence.exact`) and the posts with a rate ordered by rate, from
    which every section is made without going through the posts again."""

    def __init__(self):
        self.text = [0, 0, 0, 0, 0, 0, 0]  # posts with words; sentence words (exact); emojis; !; ?; you; CTA
        self.topics: dict[str, list[int]] = {}  # topic -> [posts, posts with a rate, exact sum of rates]
        self.words: dict[str, int] = {}  # keyword -> posts
        self.hashtags: dict[str, list[int]] = {}  # tag -> [uses, uses with a rate, exact sum of rates]
        self.days: dict[int, list[int]] = {}  # weekday -> [posts with a rate, exact sum]
        self.hours: dict[int, list[int]] = {}
        self.measured = [0] + [0] * len(METRICS)  # posts with figures, then each metric's sum
        self.rated = [0, 0]
        self.captions = [0, 0, 0]  # posts with a caption, their characters, their words
        self.by_rate: list[tuple] = []  # (-rate, when, post_id, characters) of the posts with a rate

    def count(self, item: PostStats, sign: int) -> None:
        """Count ``item`` in (``sign`` 1) or out (-1)."""
        features, rate, exact_rate = item.features, item.rate, item.exact_rate
        if features.words:
            for index, value in enumerate((1, exact.scaled(features.average_sentence_words), features.emojis,
                                           features.exclamations, features.has_question, features.second_person,
                                           features.cta is not None)):
                self.text[index] += sign * value
        topic = item.topic.strip()
        if topic:
            _bump_rated(self.topics, topic, exact_rate, sign)
        for word in item.keywords:
            _bump_count(self.words, word, sign)
        for tag in features.hashtags:
            _bump_rated(self.hashtags, tag, exact_rate, sign)
        if item.metrics:
            self.measured[0] += sign
            for index, name in enumerate(METRICS, start=1):
                self.measured[index] += sign * (item.metrics.get(name) or 0)
        if item.caption.strip():
            for index, value in enumerate((1, features.length, features.words)):
                self.captions[index] += sign * value
        if exact_rate is not None:
            local = item.local_when
            exact.bump(self.days, local.weekday(), exact_rate, sign)
            exact.bump(self.hours, local.hour, exact_rate, sign)
            self.rated[0] += sign
            self.rated[1] += sign * exact_rate
            key = (-rate, item.when, item.post_id, features.length)
            if sign > 0:
                bisect.insort(self.by_rate, key)
            else:
                del self.by_rate[bisect.bisect_left(self.by_rate, key)]

    def result(self, client: Client, items) -> dict:
        """The brand memory of ``client`` from the items this tally counted (see :func:`build`)."""
        return {
            "client": {"id": client.id, "name": client.name, "timezone": client.timezone},
            "voice": self._voice(client),
            "topics": _most_used(self.topics, "topic"),
            "keywords": [{"word": word, "posts": count} for word, count in
                         heapq.nsmallest(TOP, self.words.items(), key=lambda pair: (-pair[1], pair[0]))],
            "hashtags": _most_used(self.hashtags, "hashtag", lambda tag: f"#{tag}"),
            **_ranked_times(self.days, self.hours),
            "averages": self._averages(len(items)),
        }

    def _voice(self, client: Client) -> dict:
        posts, sentence_words, emojis, exclamations, questions, second_person, calls = self.text
        observed = {
            "posts": posts,
            "average_sentence_words": round(exact.mean(sentence_words, posts), 1) if posts else None,
            "emojis_per_post": round(emojis / posts, 2) if posts else None,
            "exclamations_per_post": round(exclamations / posts, 2) if posts else None,
            "question_share": round(questions / posts, 3) if posts else 0.0,
            "second_person_share": round(second_person / posts, 3) if posts else 0.0,
            "call_to_action_share": round(calls / posts, 3) if posts else 0.0,
        }
        traits = []
        if posts:
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

    def _averages(self, posts: int) -> dict:
        measured, *sums = self.measured
        rated_posts, rate_sum = self.rated
        captions, characters, words = self.captions
        top = max(1, rated_posts // 4)
        return {
            "posts": posts,
            "posts_with_engagement": measured,
            "engagement_rate": round_rate(exact.mean(rate_sum, rated_posts)) if rated_posts else None,
            "metrics": {name: round(total / measured, 1) if measured else None
                        for name, total in zip(METRICS, sums, strict=True)},
            "caption_length": {
                "average_characters": round(characters / captions, 1) if captions else None,
                "average_words": round(words / captions, 1) if captions else None,
                "top_quarter_average_characters": round(sum(key[3] for key in self.by_rate[:top]) / top, 1)
                if rated_posts else None,
            },
        }


METRICS = (*INTERACTIONS, "reach")


def _bump_rated(groups: dict, key, exact_rate: int | None, sign: int) -> None:
    """Add (``sign`` 1) or take (-1) one post to ``[posts, posts with a rate, exact sum]`` of ``key``."""
    group = groups.get(key)
    if group is None:
        group = groups[key] = [0, 0, 0]
    group[0] += sign
    if exact_rate is not None:
        group[1] += sign
        group[2] += sign * exact_rate
    if not group[0]:
        del groups[key]


def _bump_count(counts: dict, key, sign: int) -> None:
    counts[key] = counts.get(key, 0) + sign
    if not counts[key]:
        del counts[key]


def _most_used(groups: dict[str, list[int]], label: str, key_of=lambda key: key) -> list[dict]:
    """The :data:`TOP` keys used by the most posts (ties: the best average rate, then the key), each with
    its posts and average engagement rate, from ``[posts, posts with a rate, exact sum]`` per key."""
    rows = [{label: key_of(key), "posts": posts,
             "average_engagement_rate": round_rate(exact.mean(rate_sum, rated_posts)) if rated_posts else None}
            for key, (posts, rated_posts, rate_sum) in groups.items()]
    return heapq.nsmallest(TOP, rows, key=lambda row: (-row["posts"], -(row["average_engagement_rate"] or 0),
                                                       row[label]))


def _ranked_times(days: dict[int, list[int]], hours: dict[int, list[int]]) -> dict:
    """Days of the week and hours of the day ranked by average engagement rate, from ``[posts, exact sum
    of rates]`` per weekday and per hour."""
    day_rows = [{"day": DAYS[day], "posts": count, "average_engagement_rate": round_rate(exact.mean(total, count))}
                for day, (count, total) in days.items()]
    hour_rows = [{"hour": hour, "posts": count, "average_engagement_rate": round_rate(exact.mean(total, count))}
                 for hour, (count, total) in hours.items()]
    day_rows.sort(key=lambda row: (-row["average_engagement_rate"], -row["posts"], DAYS.index(row["day"])))
    hour_rows.sort(key=lambda row: (-row["average_engagement_rate"], -row["posts"], row["hour"]))
    return {"best_days": day_rows, "best_hours": hour_rows}


def best_times(items: list[PostStats]) -> dict:
    """Days of the week and hours of the day ranked by average engagement rate (client's time zone)."""
    days: dict[int, list[int]] = {}
    hours: dict[int, list[int]] = {}
    for item in items:  # posts, or the audit's moments of a stored timeline
        rate = item.exact_rate
        if rate is not None:
            exact.bump(days, item.local_when.weekday(), rate, 1)
            exact.bump(hours, item.local_when.hour, rate, 1)
    return _ranked_times(days, hours)


def build(client: Client, items: list[PostStats]) -> dict:
    """The brand memory of ``client`` from ``items`` (its posts, see :func:`history.load`)."""
    return Tally.of(items).result(client, items)
