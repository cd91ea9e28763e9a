"""Reading per-UTC-hour aggregates (:mod:`herald.db.engagement_hours`) in a client's time zone.

Every moment of a UTC hour has the same local date, weekday and hour in a zone whose offset is a whole
number of hours and does not change inside that hour: then a local day (or hour) is a set of whole
UTC hours. Zones with 30- or 45-minute offsets (India, Nepal, parts of Australia) split UTC hours
between two local hours; for them the readers walk the rows instead.
"""

from __future__ import annotations

import datetime as dt

_LAST = dt.timedelta(hours=1) - dt.timedelta(microseconds=1)


def local(hour: dt.datetime | str, zone: dt.tzinfo) -> dt.datetime | None:
    """The local time in ``zone`` of the UTC hour starting at ``hour`` (naive UTC, or SQLite's text), or
    None when the hour's moments do not all share that local hour."""
    if isinstance(hour, str):
        hour = dt.datetime.fromisoformat(hour)
    start = hour.replace(tzinfo=dt.UTC)
    first, last = start.astimezone(zone), (start + _LAST).astimezone(zone)
    offset = first.utcoffset()
    if offset is None or offset.total_seconds() % 3600 or last.utcoffset() != offset:
        return None
    return first


def on_the_hour(moment: dt.datetime) -> bool:
    """Whether a (naive UTC) period boundary falls on a UTC hour, so whole hours make the period."""
    return moment.minute == 0 and moment.second == 0 and moment.microsecond == 0
