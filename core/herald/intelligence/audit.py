"""The performance audit of one client over a period: cadence, trend, best and worst posts, winning
and weak patterns, and recommendations produced by rules from those numbers (no AI).

The items are the client's posts as :func:`herald.intelligence.history.load` gives them, or as the
stored timeline gives back those of the periods (:func:`herald.intelligence.timeline.window`): the audit
reads only what both have."""

from __future__ import annotations

import datetime as dt
import statistics

from ..db.models import Client, isoformat
from . import memory, patterns
from .history import PostStats, mean_rate, rated, round_rate

TARGET_POSTS_PER_WEEK = 3
LONG_GAP_DAYS = 10
TREND_THRESHOLD = 0.10  # a change of 10 % or more in the average rate is a trend
MIN_TREND_POSTS = 2


def cadence(items: list[PostStats], previous: list[PostStats], start: dt.datetime, end: dt.datetime) -> dict:
    """How often the client posted in the period, the longest silence, and the previous period's count."""
    days = (end - start).total_seconds() / 86400
    times = [start] + [item.when for item in items] + [end]
    gaps = [(later - earlier).total_seconds() / 86400 for earlier, later in zip(times, times[1:], strict=False)]
    weekdays: dict[str, int] = {}
    for item in items:
        name = patterns.DAYS[item.local_when.weekday()]
        weekdays[name] = weekdays.get(name, 0) + 1
    return {
        "posts": len(items),
        "posts_per_week": round(len(items) / (days / 7), 2) if days else None,
        "active_days": len({item.local_when.date() for item in items}),
        "longest_gap_days": round(max(gaps), 1) if gaps else None,
        "posts_by_weekday": {day: weekdays.get(day, 0) for day in patterns.DAYS},
        "previous_period_posts": len(previous),
    }


def _direction(change: float | None) -> str | None:
    if change is None:
        return None
    if change >= TREND_THRESHOLD:
        return "up"
    return "down" if change <= -TREND_THRESHOLD else "flat"


def trend(items: list[PostStats], previous: list[PostStats], start: dt.datetime, end: dt.datetime) -> dict:
    """Average engagement rate this period against the previous one, and first half against second half."""
    current_rate, previous_rate = mean_rate(items), mean_rate(previous)
    middle = start + (end - start) / 2
    first = [item for item in items if item.when < middle]
    second = [item for item in items if item.when >= middle]
    first_rate, second_rate = mean_rate(first), mean_rate(second)

    def change(new, old, new_items, old_items):
        if new is None or not old or len(rated(new_items)) < MIN_TREND_POSTS or len(rated(old_items)) < MIN_TREND_POSTS:
            return None
        return round((new - old) / old, 4)

    vs_previous = change(current_rate, previous_rate, items, previous)
    within = change(second_rate, first_rate, second, first)
    return {
        "engagement_rate": round_rate(current_rate),
        "previous_period_engagement_rate": round_rate(previous_rate),
        "change_vs_previous_period": vs_previous,
        "first_half_engagement_rate": round_rate(first_rate),
        "second_half_engagement_rate": round_rate(second_rate),
        "change_within_period": within,
        "direction": _direction(vs_previous if vs_previous is not None else within),
    }


def best_and_worst(items: list[PostStats], count: int = 3) -> tuple[list[dict], list[dict]]:
    """The ``count`` posts with the highest and (other) lowest engagement rates."""
    ordered = sorted(rated(items), key=lambda item: (-item.rate, item.post_id))
    best = ordered[:count]
    worst = [item for item in reversed(ordered) if item not in best][:count]
    return [item.brief() for item in best], [item.brief() for item in worst]


def recommendations(items: list[PostStats], found: dict, cadence_: dict, trend_: dict, times: dict) -> list[dict]:
    """Concrete advice, each from one rule with the numbers that triggered it; most important first."""
    advice: list[dict] = []

    def add(rule: str, priority: str, message: str, **evidence):
        advice.append({"rule": rule, "priority": priority, "message": message, "evidence": evidence})

    with_rate = rated(items)
    if items and not with_rate:
        add("record_engagement", "high", "None of these posts has engagement with reach: record it (the "
            "update_engagement action, POST /api/intelligence/engagement, or connected accounts) so Herald can "
            "tell what works.", posts=len(items))
    if not items:
        add("start_posting", "high", "No posts in this period: publish regularly, at least "
            f"{TARGET_POSTS_PER_WEEK} times a week.", posts=0)
    elif cadence_["posts_per_week"] is not None and cadence_["posts_per_week"] < TARGET_POSTS_PER_WEEK:
        add("post_more_often", "high", f"Post more often: {cadence_['posts']} posts is "
            f"{cadence_['posts_per_week']:g} a week; aim for {TARGET_POSTS_PER_WEEK}.",
            posts_per_week=cadence_["posts_per_week"], target=TARGET_POSTS_PER_WEEK)
    if items and cadence_["longest_gap_days"] is not None and cadence_["longest_gap_days"] >= LONG_GAP_DAYS:
        add("avoid_gaps", "medium", f"Avoid long silences: the longest gap without a post was "
            f"{cadence_['longest_gap_days']:g} days.", longest_gap_days=cadence_["longest_gap_days"])
    if trend_["direction"] == "down":
        change = trend_["change_vs_previous_period"]
        change = change if change is not None else trend_["change_within_period"]
        add("reverse_decline", "high", f"Engagement is falling ({change:+.0%}): lean on the winning patterns "
            "below and drop the weak ones.", change=change)
    def ratio(row):  # from the rates rather than the rounded lift, so "1.4146" reads 1.41x, not 1.42x
        return row["average_engagement_rate"] / row["baseline_engagement_rate"]

    for row in found["patterns"][:3]:
        add("use_more", "medium", f"Do more {row['pattern']}: {row['sample_size']} posts averaged "
            f"{row['average_engagement_rate']:.2%} against a baseline of {row['baseline_engagement_rate']:.2%} "
            f"({ratio(row):.2f}x).", dimension=row["dimension"], value=row["value"], lift=row["lift"],
            sample_size=row["sample_size"])
    for row in found["weak_patterns"][:2]:
        add("use_less", "low", f"Do fewer {row['pattern']}: {row['sample_size']} posts averaged "
            f"{row['average_engagement_rate']:.2%} against a baseline of {row['baseline_engagement_rate']:.2%} "
            f"({ratio(row):.2f}x).", dimension=row["dimension"], value=row["value"], lift=row["lift"],
            sample_size=row["sample_size"])
    best_day = next((row for row in times["best_days"] if row["posts"] >= patterns.MIN_SAMPLE), None)
    best_hour = next((row for row in times["best_hours"] if row["posts"] >= patterns.MIN_SAMPLE), None)
    if best_day or best_hour:
        when = " ".join(part for part in (f"on {best_day['day']}" if best_day else "",
                                          f"around {best_hour['hour']:02d}:00" if best_hour else "") if part)
        add("best_time", "low", f"Schedule important posts {when} (the client's time zone), when its posts "
            "engage best.", day=best_day, hour=best_hour)
    if with_rate:
        without_cta = [item for item in items if not item.features.has_cta]
        if len(without_cta) / len(items) >= 0.5:
            add("add_calls_to_action", "medium", f"{len(without_cta)} of {len(items)} posts ask nothing of the "
                "reader: end captions with a call to action (comment, save, share, link in bio).",
                posts_without=len(without_cta), posts=len(items))
    order = {"high": 0, "medium": 1, "low": 2}
    advice.sort(key=lambda row: order[row["priority"]])
    return advice


def run(client: Client, everything: list[PostStats], period_days: int, now: dt.datetime) -> dict:
    """The audit of ``client`` over the ``period_days`` before ``now`` (``everything``: its posts)."""
    start = now - dt.timedelta(days=period_days)
    previous_start = start - dt.timedelta(days=period_days)
    items = [item for item in everything if start <= item.when < now]
    previous = [item for item in everything if previous_start <= item.when < start]
    cadence_ = cadence(items, previous, start, now)
    trend_ = trend(items, previous, start, now)
    best, worst = best_and_worst(items)
    found = patterns.analyse(items)
    times = memory.best_times(items)
    scores = [item.score for item in items if item.score is not None]
    return {
        "client_id": client.id,
        "period": {"days": period_days, "start": isoformat(start), "end": isoformat(now)},
        "cadence": cadence_,
        "trend": trend_,
        "best_posts": best,
        "worst_posts": worst,
        "patterns": found["patterns"],
        "weak_patterns": found["weak_patterns"],
        "best_days": times["best_days"],
        "best_hours": times["best_hours"],
        "average_score": round(statistics.fmean(scores), 1) if scores else None,
        "recommendations": recommendations(items, found, cadence_, trend_, times),
    }
