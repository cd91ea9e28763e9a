"""The scheduled pull of engagement from the platforms.

For every task published in the last N days, ask the task's platform for the post's metrics
(``fetch_metrics``, optional for platforms) and append a snapshot whose ``source`` is the
platform's name. A platform that fails for one post is logged and the others go on; the next run
tries again. The tasks and their accounts are read in one query and the readings written a batch
at a time, so the database work does not grow with the number of posts (the fetches do).
"""

from __future__ import annotations

import datetime as dt
import logging

from .. import events
from ..capabilities import provided
from ..db.models import Account, PublishTask, write_transaction
from ..platforms import PlatformRejected, PlatformUnavailable
from ..publishing import accounts
from ..publishing.posts import METRICS, EngagementReading, record_engagements
from ..publishing.tasks import PUBLISHED
from ..runtime import Runtime

log = logging.getLogger("herald.intelligence.pull")

DEFAULT_DAYS = 30
# Readings are written this many at a time, in one short transaction (never open during a fetch);
# a crash loses at most this many fetches, which the next run makes again.
BATCH = 200


def published_tasks(days: int, now: dt.datetime) -> list[PublishTask]:
    """Tasks published since ``now - days`` that have the platform's post id, each with its account (one query)."""
    since = now - dt.timedelta(days=days)
    return list(PublishTask.select(PublishTask, Account).join(Account)
                .where((PublishTask.status == PUBLISHED) & PublishTask.platform_post_id.is_null(False)
                       & (PublishTask.published_at >= since))
                .order_by(PublishTask.id))


def fetch_task(runtime: Runtime, task: PublishTask,
               tokens: dict[int, str | None]) -> tuple[str, EngagementReading | None]:
    """Ask the task's platform for its post's metrics: what happened (for the counts) and the reading, if any.

    ``tokens`` keeps each account's usable token (None: unusable) across the tasks of one pull, so an
    account is checked (and marked expired or invalid) once.
    """
    registered = runtime.registry.platforms.get(task.platform)
    fetch = provided(registered.obj, "fetch_metrics") if registered else None
    if fetch is None:
        return "unsupported", None
    account = task.account
    if account.id not in tokens:
        tokens[account.id], _ = accounts.usable(runtime, account)
    token = tokens[account.id]
    if token is None:
        return "account_unusable", None
    try:
        metrics = fetch(accounts.account_ref(runtime, account, token), task.platform_post_id, config=runtime.config)
    except (PlatformRejected, PlatformUnavailable) as exc:
        log.info("metrics of task %s (%s %s) not fetched: %s", task.id, task.platform, task.platform_post_id,
                 exc.message)
        return "failed", None
    except Exception:
        log.exception("the %s plugin failed to fetch the metrics of task %s", task.platform, task.id)
        return "failed", None
    values = {name: value for name, value in (metrics or {}).items() if name in METRICS and isinstance(value, int)}
    if not values:
        return "no_metrics", None
    return "recorded", EngagementReading(task.workspace_id, task.post_id, values, task.platform, runtime.clock.now())


def record(runtime: Runtime, readings: list[EngagementReading]) -> None:
    """Append the readings' snapshots and ``engagement.updated`` events in one transaction, then dispatch them."""
    if not readings:
        return
    with events.collecting() as recorded, write_transaction():
        record_engagements(readings)
    events.dispatch(runtime.pm, recorded)


def pull(runtime: Runtime, days: int = DEFAULT_DAYS, now: dt.datetime | None = None) -> dict[str, int]:
    """Pull metrics for every task published in the last ``days`` days; returns counts by outcome."""
    counts: dict[str, int] = {}
    tokens: dict[int, str | None] = {}
    readings: list[EngagementReading] = []
    for task in published_tasks(days, now or runtime.clock.now()):
        outcome, reading = fetch_task(runtime, task, tokens)
        counts[outcome] = counts.get(outcome, 0) + 1
        if reading is not None:
            readings.append(reading)
        if len(readings) >= BATCH:
            record(runtime, readings)
            readings = []
    record(runtime, readings)
    if counts.get("recorded"):
        log.info("engagement pulled for %s published posts", counts["recorded"])
    return counts
