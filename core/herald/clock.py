"""Where "now" comes from: every wall-clock time Herald stores or compares is ``runtime.clock.now()``.

Times are naive UTC datetimes (how the database stores them). :class:`SystemClock` reads the
system's clock; :class:`FakeClock` stands still until a test moves it, so a test moves time for
the database, the schedule and the reconciler at once instead of rewriting stored timestamps.
Durations and timeouts measured inside one process (``time.monotonic``) are not "now" and do not
come from here.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


def system_now() -> dt.datetime:
    """The system's current time as a naive UTC datetime."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Clock(Protocol):
    """What tells the time: ``now()`` is a naive UTC datetime."""

    def now(self) -> dt.datetime:
        """The current time (naive UTC)."""

    def timestamp(self) -> float:
        """The current time in seconds since the epoch."""


def epoch_seconds(moment: dt.datetime) -> float:
    """Seconds since the epoch of a naive UTC datetime."""
    return moment.replace(tzinfo=dt.UTC).timestamp()


class SystemClock:
    """The production clock: the system's time."""

    def now(self) -> dt.datetime:
        """The system's current time (naive UTC)."""
        return system_now()

    def timestamp(self) -> float:
        """The system's current time in seconds since the epoch."""
        return epoch_seconds(self.now())


class FakeClock:
    """A clock that moves only when told to (tests). It starts at the system's time, so that times
    RQ records itself (a job's start) and the clock's agree until the test moves it."""

    def __init__(self, start: dt.datetime | None = None):
        self._now = start or system_now()

    def now(self) -> dt.datetime:
        """The time the clock was last set to (naive UTC)."""
        return self._now

    def timestamp(self) -> float:
        """The clock's time in seconds since the epoch."""
        return epoch_seconds(self._now)

    def advance(self, seconds: float) -> dt.datetime:
        """Move the clock ``seconds`` forward; returns the new time."""
        self._now += dt.timedelta(seconds=seconds)
        return self._now

    def set(self, moment: dt.datetime) -> None:
        """Set the clock to ``moment`` (naive UTC, or aware and converted)."""
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        self._now = moment
