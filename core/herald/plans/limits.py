"""Plans and their limits, and the month their usage is counted in (see :mod:`herald.plans.report`)."""

from __future__ import annotations

import datetime as dt

PLAN_LIMITS = {
    "free": {"ai_generations_per_month": 50},
    "pro": {"ai_generations_per_month": 500},
}


def month_start(now: dt.datetime) -> dt.datetime:
    """Midnight UTC on the first day of the calendar month of ``now`` (the runtime's clock)."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
