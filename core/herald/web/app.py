"""The application factory: ``create_app(config)`` wires configuration, database, plugins,
schemas, auth, rate limits, error handling and the blueprints. Nothing happens at import time."""

from __future__ import annotations

import logging
import secrets

import pluggy
from flask import Flask, g, request
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from ..config import Config
from ..db import unstorable_text
from ..db.models import db
from ..ids import IdConverter
from ..intelligence import items as intelligence_items
from ..runtime import Runtime
from . import ratelimit
from .api import (
    actions_api,
    ai_features,
    ai_usage,
    api_keys_and_plugins,
    background_jobs,
    campaigns,
    client_portal,
    clients,
    comments,
    competitors_and_templates,
    exports,
    health,
    health_scores,
    integrations,
    intelligence,
    media,
    openapi,
    plan,
    portal_tokens,
    post_versions,
    public_media,
    session,
    settings,
    slots,
    v1,
    v1_analytics,
    v1_platforms,
    workspace,
)
from .error_handlers import register_error_handlers
from .request_body import guard_request_bodies

log = logging.getLogger("herald")

JSON_BODY_LIMIT = 1024 * 1024  # non-upload requests; uploads raise their own limit


class NoFlaskSessions(SessionInterface):
    """Herald signs in with its own session cookie (:mod:`herald.auth`) and never uses ``flask.session``,
    so no request pays for opening Flask's signed-cookie session."""

    def open_session(self, app, request):
        """The null session (it refuses writes)."""
        return self.make_null_session(app)

    def save_session(self, app, session, response):
        """Nothing to save."""


def create_app(source: Runtime | Config | None = None, pm: pluggy.PluginManager | None = None) -> Flask:
    """Build the Herald application around ``source``: a :class:`~herald.runtime.Runtime` already
    built, or a :class:`~herald.config.Config` (default: from the environment) to build one from with
    the plugins of ``pm`` (default: every installed one; ``pm`` goes with a Config only). The runtime
    is kept in ``app.extensions["herald"]``."""
    if isinstance(source, Runtime):
        if pm is not None:
            raise TypeError("create_app: pm goes with a Config; a Runtime has its plugin manager already")
        runtime = source
    else:
        runtime = Runtime.build(source or Config.from_env(), pm)
    config = runtime.config
    intelligence_items.configure(config.intelligence_cache_posts)
    app = Flask("herald")
    app.url_map.converters["int"] = IdConverter  # before any route: a too-big id is a 404, not an overflow
    app.config.update(
        MAX_CONTENT_LENGTH=JSON_BODY_LIMIT,
        SECRET_KEY=config.resolved_secret_key(),
        JSON_SORT_KEYS=False,
        TESTING=config.testing,
    )
    app.json.sort_keys = False
    app.wsgi_app = guard_request_bodies(app.wsgi_app)  # a body the server cannot read is a 400, not a 500
    if config.trusted_proxies:
        # Take the client address, scheme and host from the X-Forwarded-* headers the proxies set,
        # so per-address limits count the real client and Secure cookies see HTTPS.
        hops = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.extensions["herald"] = runtime

    @app.after_request
    def _drop_meaningless_retry_after(response):
        # flask-limiter adds Retry-After to every response; it only means something on a 429 or 503,
        # or on an error Herald gave one (the 409 for an Idempotency-Key still running).
        # Registered before the limiter so that it runs after the limiter's own after_request.
        if "retry_after" in g:  # keep the header equal to the seconds the message names
            response.headers["Retry-After"] = str(g.retry_after)
        elif response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    runtime.limiter = ratelimit.init_limiter(app, config)
    app.session_interface = NoFlaskSessions()

    register_error_handlers(app)

    @app.before_request
    def _start_request():
        g.request_id = request.headers.get("X-Request-ID", "")[:64] or secrets.token_hex(8)
        unstorable_text.refuse_in_request()
        if request.path != "/health":  # /health opens its own connection and reports when it cannot
            db.connect(reuse_if_open=True)

    @app.after_request
    def _finish_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def _close_db(exc):
        if not db.is_closed():
            db.close()  # returns the connection to the pool


    for module in (actions_api, clients, media, health, openapi, session, plan, api_keys_and_plugins, v1, workspace,
                   public_media, post_versions, exports, health_scores,
                   portal_tokens, client_portal, comments,
                   intelligence, campaigns, settings, ai_usage, background_jobs, ai_features,
                   competitors_and_templates, slots, v1_analytics, v1_platforms, integrations):
        app.register_blueprint(module.bp)
    for registered in runtime.registry.blueprints():  # plugins' routes (register_blueprints)
        app.register_blueprint(registered.obj)
    ratelimit.apply_login_limit(app, config)
    ratelimit.apply_portal_limit(app, config)
    return app
