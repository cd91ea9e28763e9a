"""The scheduled pull of engagement from the platforms.

For every task published in the last N days, ask the task's platform for the post's metrics
(``fetch_metrics``, optional for platforms) and append a snapshot whose ``source`` is the
platform's name. A platform that fails for one post is logged and the others go on; the next run
tries again.
"""

from __future__ import annotations

import datetime as dt
import logging

from .. import accounts, events
from ..models import Account, Post, PublishTask, utcnow, write_transaction
from ..platforms import PlatformRejected, PlatformUnavailable
from ..posts import METRICS, record_engagement
from ..tasks import PUBLISHED

log = logging.getLogger("herald.intelligence.pull")

DEFAULT_DAYS = 30


def published_tasks(days: int, now: dt.datetime) -> list[PublishTask]:
    """Tasks published since ``now - days`` that have the platform's post id."""
    since = now - dt.timedelta(days=days)
    return list(PublishTask.select().where((PublishTask.status == PUBLISHED)
                                           & PublishTask.platform_post_id.is_null(False)
                                           & (PublishTask.published_at >= since))
                .order_by(PublishTask.id))


def pull_task(state, task: PublishTask) -> str:
    """Fetch and record the metrics of one published task; returns what happened (for the counts)."""
    registered = state.registry.platforms.get(task.platform)
    fetch = getattr(registered.obj, "fetch_metrics", None) if registered else None
    if fetch is None:
        return "unsupported"
    account = Account.get_by_id(task.account_id)
    token, problem = accounts.usable(state, account)
    if problem:
        return "account_unusable"
    try:
        metrics = fetch(accounts.account_ref(state, account, token), task.platform_post_id, config=state.config)
    except (PlatformRejected, PlatformUnavailable) as exc:
        log.info("metrics of task %s (%s %s) not fetched: %s", task.id, task.platform, task.platform_post_id,
                 exc.message)
        return "failed"
    except Exception:
        log.exception("the %s plugin failed to fetch the metrics of task %s", task.platform, task.id)
        return "failed"
    values = {name: value for name, value in (metrics or {}).items() if name in METRICS and isinstance(value, int)}
    if not values:
        return "no_metrics"
    with events.collecting() as recorded, write_transaction():
        record_engagement(Post.get_by_id(task.post_id), values, source=task.platform)
    events.dispatch(state.pm, recorded)
    return "recorded"


def pull(state, days: int = DEFAULT_DAYS, now: dt.datetime | None = None) -> dict[str, int]:
    """Pull metrics for every task published in the last ``days`` days; returns counts by outcome."""
    counts: dict[str, int] = {}
    for task in published_tasks(days, now or utcnow()):
        outcome = pull_task(state, task)
        counts[outcome] = counts.get(outcome, 0) + 1
    if counts.get("recorded"):
        log.info("engagement pulled for %s published posts", counts["recorded"])
    return counts
