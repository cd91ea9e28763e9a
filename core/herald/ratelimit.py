"""Rate limits with flask-limiter on Redis: per API key (or session, or address) on the API, per
address on login. When Redis is unreachable flask-limiter falls back to per-process limits."""

from __future__ import annotations

import hashlib
import time

from flask import Flask, g, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

from .auth import SESSION_COOKIE, Authenticator
from .config import Config
from .errors import HeraldError, error_response

EXEMPT_PATHS = frozenset({"/health"})


def caller_key() -> str:
    """The identity limits count against: the API key's digest, the session's, or the address."""
    key = Authenticator.presented_key(request)
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return "session:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "addr:" + (get_remote_address() or "unknown")


def init_limiter(app: Flask, config: Config) -> Limiter:
    """Attach flask-limiter to ``app`` with Herald's defaults."""
    limiter = Limiter(
        caller_key,
        app=app,
        default_limits=[config.rate_limit],
        default_limits_exempt_when=lambda: request.path in EXEMPT_PATHS,
        storage_uri=config.redis_url,
        storage_options={"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        strategy="sliding-window-counter",
        headers_enabled=True,
        in_memory_fallback_enabled=True,
        key_prefix="herald-limits",
    )

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded):
        current = limiter.current_limit
        wait = max(1, int(current.reset_at - time.time())) if current is not None else 60
        g.retry_after = wait
        error = HeraldError(f"Too many requests. Retry after {wait} seconds.", code="rate_limited", status=429,
                            headers={"Retry-After": str(wait)})
        return error_response(error)

    return limiter


def apply_login_limit(app: Flask, config: Config) -> None:
    """Limit ``POST /api/login`` per client address (``HERALD_LOGIN_RATE_LIMIT``)."""
    limiter: Limiter = app.extensions["herald"].limiter
    limit = limiter.limit(config.login_rate_limit, key_func=lambda: "login:" + (get_remote_address() or "unknown"))
    app.view_functions["session.login"] = limit(app.view_functions["session.login"])
