"""``GET /health``: database, Redis, media store and queue checks (200 when all pass, 503 otherwise).

The database check reads and writes (a write that changes nothing): a database that answers reads
but refuses writes (files made read-only, a full disk, a standby) is unhealthy.

The queue check tells the truth about publishing: how many jobs wait in each queue, how many
workers consume it (workers alive by their heartbeat, :mod:`herald.work.heartbeat`, not by RQ's
registration, which outlives a killed worker and vanishes with a Redis flush), and how late the
most overdue task is. A task that is due while no worker
consumes the publish queue makes the service unhealthy: posts would silently not go out.

The derived-data check lists the triggers that keep derived data (:mod:`herald.derived`: post
counters, daily figures, intelligence revisions) and are missing from the database, one catalogue
query. It is reported but does not make the service unhealthy: without a trigger, totals and reports
drift from the rows while every request still succeeds, and ``herald cron`` reinstalls it and rebuilds
what drifted (``herald derived rebuild`` does so at once). A 503 there would take every web machine
out of a load balancer for it.

The media check says which store this process uses (``local``: its own ``HERALD_DATA_DIR/media``;
``s3``: the bucket of ``HERALD_MEDIA_STORE``) and whether it answers.
"""

import logging
import time

from flask import Blueprint, jsonify

from ... import derived
from ...db.models import db, probe_reads, probe_writes
from ...media.configured import media_store
from ...publishing import tasks
from ...work import heartbeat
from ...work.queue import PUBLISH_QUEUE, get_queue, queue_names
from . import endpoint, runtime

bp = Blueprint("health", __name__)
log = logging.getLogger("herald.health")


def _check(name: str, probe) -> dict:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # a health check reports failures, it does not raise them
        # The endpoint is public: name the kind of failure only. The message (hosts, ports, database
        # user names) goes to the log.
        log.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _database_check() -> dict:
    """Whether the database answers and whether it accepts writes (both must hold for ``ok``)."""
    check = _check("database", probe_reads)
    if not check["ok"]:
        return {**check, "writable": False}
    written = _check("database writes", probe_writes)
    if not written["ok"]:
        return {**written, "writable": False}
    return {**check, "writable": True}


# A task this late with workers running means they cannot keep up (or are stuck).
LATE_AFTER_SECONDS = 300


def _queues_check() -> dict:
    connection, now = runtime().redis, runtime().clock.now()
    started = time.perf_counter()
    report: dict = {"ok": True}
    try:
        workers = heartbeat.live_workers(connection, runtime().clock.timestamp())
        for name in queue_names(runtime()):
            report[name] = {"depth": len(get_queue(connection, name)),
                            "workers": sum(1 for queues in workers.values() if name in queues)}
        due = tasks.oldest_due(now)
    except Exception as exc:  # reported, not raised (see _check)
        log.warning("health check queues failed: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "error": type(exc).__name__}
    lateness = max(0.0, (now - due).total_seconds()) if due is not None else 0.0
    report["oldest_due_seconds"] = round(lateness, 1)
    if due is not None and report[PUBLISH_QUEUE]["workers"] == 0:
        report["ok"] = False
        report["error"] = "NoWorker"
        report["message"] = "Publish tasks are due but no worker consumes the publish queue; start `herald worker`."
    elif lateness > LATE_AFTER_SECONDS:
        report["ok"] = False
        report["error"] = "Backlog"
        report["message"] = f"The oldest due task is {int(lateness)} s late; add workers or check their logs."
    report["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return report


def _derived_check() -> dict:
    """The triggers of derived data missing from the database (``ok`` when none is)."""
    started = time.perf_counter()
    try:
        missing = derived.missing_triggers(db.obj)
    except Exception as exc:  # reported, not raised (see _check)
        log.warning("health check derived failed: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "error": type(exc).__name__}
    report = {"ok": not missing, "missing_triggers": missing,
              "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    if missing:
        report["message"] = ("Derived data (totals, reports) drift without these triggers; herald cron repairs "
                             "them, or run `herald derived rebuild`.")
    return report


# Checks reported without making the service unhealthy (see the module's docstring).
ADVISORY = frozenset({"derived"})


def _media_check() -> dict:
    """Whether the media store answers (S3: the bucket exists and the credentials may use it), and which it is."""
    try:
        store = media_store(runtime().config)
    except Exception as exc:  # a store that cannot even be made (boto3 missing) is reported, not raised
        log.warning("health check media failed: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "error": type(exc).__name__, "store": None}
    return {**_check("media", store.check), "store": store.kind}


@endpoint(bp, "/health", ("GET",), summary="Service health check (database, Redis, queues and workers)",
          auth=False, responses={200: "service_health", 503: "service_health"})
def health():
    """Check the database, Redis, the media store, the publish queues and the triggers of derived data."""
    checks = {
        "database": _database_check(),
        "redis": _check("redis", runtime().redis.ping),
        "media": _media_check(),
    }
    if checks["database"]["ok"]:
        checks["derived"] = _derived_check()
    if checks["database"]["ok"] and checks["redis"]["ok"]:
        checks["queues"] = _queues_check()
    healthy = all(check["ok"] for name, check in checks.items() if name not in ADVISORY)
    return jsonify({"status": "ok" if healthy else "unhealthy", "checks": checks}), 200 if healthy else 503
