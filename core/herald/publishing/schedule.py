"""Reading the ``schedule`` of a publish request: ``"now"`` or an ISO-8601 time (``"next_slot"`` is
:mod:`herald.publishing.slots`'s).

A time with an offset (``Z``, ``+02:00``) is exact. A time without one is read in the time zone of
the post's client (or the workspace's, or UTC), and the answer says which zone that was, so nobody
has to guess which instant was meant.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ValidationError

PAST_GRACE = dt.timedelta(minutes=5)  # clock skew and slow clients: a little in the past means "now"
MAX_AHEAD = dt.timedelta(days=2 * 365)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When to publish: ``at`` (naive UTC), and how the input was read (``timezone``; ``slot`` when it
    is a posting slot's instant, see :mod:`herald.publishing.slots`)."""

    at: dt.datetime
    now: bool
    timezone: str
    slot: bool = False


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name`` (UTC when empty or unknown)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse(value: str | None, default_zone: str | None, now: dt.datetime, field: str = "schedule") -> Schedule:
    """Parse ``value`` relative to ``now`` (naive UTC); 400 naming ``field`` when it is not a usable time."""
    if value is None or value.strip().lower() == "now":
        return Schedule(now, True, "UTC")
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f'{field} must be "now", "next_slot" or an ISO-8601 time such as 2026-06-01T09:00:00Z; '
                              f"got {value!r}.", field=field) from None
    if parsed.tzinfo is None:
        tz = zone(default_zone)
        parsed = parsed.replace(tzinfo=tz)
        label = tz.key
    else:
        offset = parsed.utcoffset() or dt.timedelta(0)
        label = "UTC" if offset == dt.timedelta(0) else _offset_label(offset)
    at = to_utc(parsed, field)
    if at < now - PAST_GRACE:
        raise ValidationError(f"{field} {text} ({at.isoformat()}Z) is in the past; use \"now\" to publish at once.",
                              field=field)
    if at > now + MAX_AHEAD:
        raise ValidationError(f"{field} is more than two years ahead.", field=field)
    return Schedule(max(at, now), at <= now, label)


def to_utc(moment: dt.datetime, field: str) -> dt.datetime:
    """``moment`` (aware) as naive UTC; 400 naming ``field`` when that falls outside the years 1 to 9999
    (``0001-01-01T00:00:00+14:00`` is in year 0 in UTC, which Python cannot represent)."""
    try:
        return moment.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        raise ValidationError(f"{field} is too far in the past or the future.", field=field) from None


def _offset_label(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
