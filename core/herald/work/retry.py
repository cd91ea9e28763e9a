"""When to try again: one :class:`RetryPolicy` and one ``Retry-After`` reader for every kind of work.

A worker never sleeps to wait for a retry: the policy answers a delay, the row gets a new
``due_at`` and a new job is scheduled for then (see :mod:`herald.work.kernel`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import random

MAX_RETRY_AFTER = 24 * 3600.0  # seconds: a platform asking for more than a day is asking for a day


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date (measured
    from ``now``, naive UTC), at most a day; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit alone also takes "²", which float() refuses
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - now.replace(tzinfo=dt.UTC)).total_seconds()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """When to try again after a failed attempt, or not at all: exponential backoff with full jitter,
    or a fixed ``schedule``; at least ``floor`` seconds; at most ``max_attempts`` attempts.

    Backoff: after the ``n``-th failed attempt the next one waits a random time between 0 and
    ``min(cap, base * 2 ** (n - 1))`` seconds; full jitter spreads out the retries of work that
    failed together. ``schedule`` (seconds before each attempt, the first one's included, as
    Standard Webhooks' senders publish them) replaces the backoff and the attempt count: after the
    ``n``-th failed attempt the next waits ``schedule[n]``, give or take ``jitter`` of it.

    A wait the platform asked for (``Retry-After``) is honoured, within ``floor`` and a day: instead
    of the backoff, or, with ``retry_after_at_least``, only when it is longer (a schedule promised to
    receivers stays a floor). With ``max_retry_after``, a platform asking for a longer wait than that
    is not waited for: the work gives up at once (someone is waiting on an AI job's result).
    """

    base: float = 30.0
    cap: float = 3600.0
    max_attempts: int = 6
    floor: float = 5.0
    schedule: tuple[float, ...] | None = None
    jitter: float = 0.1
    retry_after_at_least: bool = False
    max_retry_after: float | None = None

    def exhausted(self, attempts: int) -> bool:
        """Whether no attempt is left after ``attempts`` attempts."""
        return attempts >= (len(self.schedule) if self.schedule is not None else self.max_attempts)

    def gives_up(self, attempts: int, retry_after: float | None = None) -> str | None:
        """Why no attempt follows the ``attempts``-th (its outcome's error begins with it), or None
        when one does (then :meth:`delay` says when)."""
        if self.exhausted(attempts):
            return f"Gave up after {attempts} attempt{'' if attempts == 1 else 's'}"
        if retry_after is not None and self.max_retry_after is not None and retry_after > self.max_retry_after:
            return (f"Gave up: asked to wait {retry_after:g} s, longer than the {self.max_retry_after:g} s "
                    "this work waits")
        return None

    def delay(self, attempts: int, retry_after: float | None = None,
              rng: random.Random | None = None) -> float | None:
        """Seconds before the next attempt after ``attempts`` attempts (the last one failed); None
        when it gives up (:meth:`gives_up` says why)."""
        if self.gives_up(attempts, retry_after) is not None:
            return None
        rng = rng or random
        if self.schedule is not None:
            backoff = self.schedule[attempts] * rng.uniform(1 - self.jitter, 1 + self.jitter)
        else:
            backoff = max(self.floor, rng.uniform(0, min(self.cap, self.base * 2 ** max(0, attempts - 1))))
        if retry_after is None:
            return backoff
        asked = max(self.floor, min(float(retry_after), MAX_RETRY_AFTER))
        return max(backoff, asked) if self.retry_after_at_least else asked
