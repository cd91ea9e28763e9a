"""RQ job functions for periodic chores (RQ cron): the reconciler, token health, engagement pulls, the
check and repair of the derived data.
Durable work (publish tasks among it) runs through :mod:`herald.work`.

Arguments are plain ids (the JSON serializer). The job entry functions here take the runtime the
worker installed (:func:`herald.runtime.for_jobs`) and pass it down; nothing below them looks it up.
"""

from __future__ import annotations

import datetime as dt
import logging

from . import derived, events, work
from .db.models import Account, Event, IdempotencyRecord, db
from .events import dispatch_marks
from .exports import jobs as export_jobs
from .intelligence import lookups, pull
from .publishing import accounts, oauth_connect, token_refresh
from .runtime import Runtime, for_jobs

log = logging.getLogger("herald.chores")

EVENT_DISPATCH_GRACE_SECONDS = 60  # an undispatched event older than this was lost, not in flight


def reconcile() -> dict:
    """Make sure every active row of every work kind has a live job (:func:`herald.work.reconcile`:
    publish tasks, first comments, background jobs and the webhooks plugin's deliveries among them; a
    background job whose worker died fails, never runs twice), and do the housekeeping that is not
    work: expire idempotency records and OAuth connect flows, delete export files whose link expired, and
    re-dispatch events that were committed but never dispatched.
    Runs periodically (RQ cron). Returns counts for the log (``work``: rows given a new job, by kind;
    ``events_redispatched``).
    """
    runtime = for_jobs()
    now = runtime.clock.now()
    counts: dict = {"work": work.reconcile(runtime)}
    with db.connection_context():
        IdempotencyRecord.delete().where(IdempotencyRecord.expires_at < now).execute()
        oauth_connect.purge(now)
        counts["export_files_removed"] = export_jobs.purge(runtime, now)
        counts["events_redispatched"] = redispatch_events(runtime, now)
    return counts


def redispatch_events(runtime: Runtime, now: dt.datetime, limit: int = 1000) -> int:
    """Dispatch events committed but never dispatched (the web process died, say); returns how many.

    Only events older than :data:`EVENT_DISPATCH_GRACE_SECONDS` are taken, so an event whose
    request is dispatching it right now is left alone. Listeners may hear an event twice.
    """
    dispatch_marks.write_owed()  # what this process dispatched but has not marked yet is not lost
    cutoff = now - dt.timedelta(seconds=EVENT_DISPATCH_GRACE_SECONDS)
    rows = list(Event.select().where(Event.dispatched_at.is_null() & (Event.created_at < cutoff))
                .order_by(Event.id).limit(limit))
    events.dispatch(runtime.pm, [events.DomainEvent(row.id, row.type, row.workspace_id, row.data, row.created_at)
                               for row in rows])
    if rows:
        log.info("reconciler re-dispatched %s events", len(rows))
    return len(rows)


def check_tokens() -> dict:
    """Re-check the token health of every connected account (RQ cron), first requesting a refresh
    (:mod:`herald.publishing.token_refresh`, a job of its own) of each token that runs out soon."""
    runtime = for_jobs()
    counts: dict[str, int] = {}
    with db.connection_context():
        for account in Account.select().where(Account.status.in_(["active", "expired"])):
            token_refresh.request_if_due(runtime, account)
            health = accounts.check_health(runtime, account)
            label = health.status if health else "unchecked"
            counts[label] = counts.get(label, 0) + 1
    return counts


def pull_engagement() -> dict:
    """Pull engagement from the platforms for posts published in the last days (RQ cron)."""
    runtime = for_jobs()
    with db.connection_context():
        return pull.pull(runtime, runtime.config.engagement_pull_days)


def refresh_intelligence() -> dict:
    """Compute again the intelligence results of clients whose data changed since they were last read
    (:func:`herald.intelligence.lookups.refresh_stale`; RQ cron), so that a client whose engagement is
    pulled every few minutes is answered from stored results instead of a walk of its history at the
    next read. Returns ``{"refreshed": n}``."""
    with db.connection_context():
        return {"refreshed": lookups.refresh_stale()}


def repair_derived() -> dict:
    """Check every family of derived data (:data:`herald.derived.REGISTRY`) against a recomputation and
    for missing triggers, and rebuild what differs (RQ cron): the triggers keep them exact, so a
    difference means a write went around them (a restored backup, a table rebuilt without its triggers).
    Each repair is logged as a warning (:func:`herald.derived.repair`). Returns ``{"repaired": n}``."""
    with db.connection_context():
        return {"repaired": len(derived.repair(db.obj))}
