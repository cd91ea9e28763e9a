"""``GET /health``: database and Redis checks (200 when all pass, 503 otherwise)."""

import logging
import time

from flask import Blueprint, jsonify

from ..models import db
from . import endpoint, state

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


def _probe_database() -> None:
    db.connect(reuse_if_open=True)
    db.execute_sql("SELECT 1").fetchone()


@endpoint(bp, "/health", ("GET",), summary="Service health check", auth=False)
def health():
    """Check the database and Redis."""
    checks = {
        "database": _check("database", _probe_database),
        "redis": _check("redis", state().redis.ping),
    }
    healthy = all(check["ok"] for check in checks.values())
    return jsonify({"status": "ok" if healthy else "unhealthy", "checks": checks}), 200 if healthy else 503
