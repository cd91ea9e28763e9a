"""Rate limits with flask-limiter on Redis: per API key (or session, or address) on the API, per
address on login, per address on failed authentication, and per link on the client portal. When Redis
is unreachable flask-limiter falls back to per-process limits.

The counters are the ``limits`` library's own Redis storage (sliding window counter), configured
through flask-limiter: a limited request costs two Redis round trips, one to count it and one to read
the window its ``X-RateLimit-*`` headers describe. Every process counts in Redis, so the limits are
exact across processes."""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse

from ..auth import SESSION_COOKIE, Authenticator, digest
from ..config import Config
from ..errors import HeraldError, Unauthorized
from .error_handlers import error_response

log = logging.getLogger("herald.web.ratelimit")

EXEMPT_PATHS = frozenset({"/health"})
# Signed media links (the platforms fetch a post's media there while publishing, and the client portal
# shows previews from there) and the portal's stylesheet are files, not API calls: counted against the
# caller's address, a bulk publish or a portal page full of previews would run into 429s.
EXEMPT_PREFIXES = ("/media/", "/static/")
KEY_PREFIX = "herald-limits"
LOGIN_ENDPOINT = "session.login"
APP_LOGIN_ENDPOINT = "integrations.login"  # the /app/login form
PORTAL_BLUEPRINT = "client_portal"
PORTAL_SCOPE = "portal"  # one budget per link, shared by the page and its forms
AUTH_FAILURE_SCOPE = "auth-failures"


def client_address() -> str:
    """The client's address (the one the trusted proxies report when ``HERALD_TRUSTED_PROXIES`` is set)."""
    return get_remote_address() or "unknown"


def caller_key() -> str:
    """The identity limits count against: the API key's digest, the session's, or the address."""
    key = Authenticator.presented_key(request)
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return "session:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "addr:" + client_address()


def exempt_from_api_limit() -> bool:
    """Whether the request does not count against ``HERALD_RATE_LIMIT`` (health checks and files)."""
    path = request.path
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def init_limiter(app: Flask, config: Config) -> Limiter:
    """Attach flask-limiter to ``app`` with Herald's defaults and the failed-authentication limit."""
    limiter = Limiter(
        caller_key,
        app=app,
        # One budget per caller across the whole API (default limits would count each route apart).
        application_limits=[config.rate_limit],
        application_limits_exempt_when=exempt_from_api_limit,
        storage_uri=config.redis_url,
        storage_options={"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        strategy="sliding-window-counter",
        headers_enabled=True,
        in_memory_fallback_enabled=True,
        key_prefix=KEY_PREFIX,
    )
    app.register_error_handler(RateLimitExceeded, lambda exc: too_many_requests(limiter))
    limit_auth_failures(app, limiter, parse(config.auth_failure_limit))
    return limiter


def retry_after(limiter: Limiter) -> int:
    """Seconds until the limit the request broke lets it through, kept as the response's Retry-After."""
    current = limiter.current_limit
    wait = max(1, int(current.reset_at - time.time())) if current is not None else 60
    g.retry_after = wait
    return wait


def too_many_requests(limiter: Limiter) -> Response:
    """The 429 ``rate_limited`` envelope for the limit the request broke, with Retry-After."""
    wait = retry_after(limiter)
    error = HeraldError(f"Too many requests. Retry after {wait} seconds.", code="rate_limited",
                        headers={"Retry-After": str(wait)})
    return error_response(error)


def limit_auth_failures(app: Flask, limiter: Limiter, limit: RateLimitItem) -> None:
    """Count failed authentications (401) per client address; past ``limit``, answer them 429 instead.

    The per-key limit counts each presented key separately, so a client sending a new invalid key
    every time would never meet it. Requests with valid credentials never fail authentication, so
    they keep working from an address that is over this limit.
    """

    @app.errorhandler(Unauthorized)
    def _unauthorized(exc: Unauthorized):
        if _failed_credentials() and not _count_auth_failure(limiter, limit):
            return too_many_requests(limiter)
        return error_response(exc)


def _failed_credentials() -> bool:
    # A wrong password on login is not counted here (login has its own limit), nor a 401 from a view
    # that authenticated the caller first (GET /api/session called with an API key).
    return request.endpoint not in (LOGIN_ENDPOINT, APP_LOGIN_ENDPOINT) and "principal" not in g


def _count_auth_failure(limiter: Limiter, limit: RateLimitItem) -> bool:
    """Count one failed authentication for the client address; False when the address is over ``limit``."""
    args = [KEY_PREFIX, "addr:" + client_address(), AUTH_FAILURE_SCOPE]
    try:
        # limiter.limiter is the strategy on Redis, or on the in-memory fallback once Redis failed.
        within = limiter.limiter.hit(limit, *args)
    except Exception as exc:  # Redis went away during this request: answer 401; the fallback takes over next
        log.warning("could not count a failed authentication: %s: %s", type(exc).__name__, exc)
        return True
    if not within:
        log.info("failed-authentication limit %s exceeded by %s", limit, client_address())
        # Make the X-RateLimit-* headers and Retry-After describe this limit rather than the per-key one.
        limiter.context.view_rate_limit = RequestLimit(limiter, limit, args, breached=True, shared=True)
    return within


def apply_login_limit(app: Flask, config: Config) -> None:
    """Limit ``POST /api/login`` and ``POST /app/login`` per client address (``HERALD_LOGIN_RATE_LIMIT``),
    one budget for both: the form is no second door for guessing passwords."""
    limiter: Limiter = app.extensions["herald"].limiter
    limit = limiter.shared_limit(config.login_rate_limit, "login", key_func=lambda: "login:" + client_address())
    for endpoint in (LOGIN_ENDPOINT, APP_LOGIN_ENDPOINT):
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])


def portal_link_key() -> str:
    """The client portal link a request counts against: a digest of the token in its URL."""
    return "portal:" + digest(request.view_args["token"])[:32]


def apply_portal_limit(app: Flask, config: Config) -> None:
    """Limit each client portal link (``HERALD_PORTAL_RATE_LIMIT``), on top of the per-address limit."""
    limiter: Limiter = app.extensions["herald"].limiter
    limit = limiter.shared_limit(config.portal_rate_limit, PORTAL_SCOPE, key_func=portal_link_key,
                                 override_defaults=False)
    limit(app.blueprints[PORTAL_BLUEPRINT])
