"""The runtime: one object holding what Herald's code shares, built without Flask.

:meth:`Runtime.build` reads nothing but the :class:`~herald.config.Config` it is given: it binds
the database, loads the plugins, compiles the schemas, connects Redis and picks the clock.
``create_app`` keeps its runtime in ``app.extensions["herald"]``; ``herald worker``, ``herald cron``
and the other commands build their own. Services receive it as an argument (``runtime: Runtime``).

RQ calls job functions with plain ids, so a worker process makes its runtime available to the job
entry functions in exactly one place: :func:`install_for_jobs`, called by whatever built the worker
(:class:`herald.work.workers.HeraldSimpleWorker` and its fork sibling, or a test fixture). Only job entry
functions read it (:func:`for_jobs`); a job run where nothing installed one fails with a clear error.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pluggy
import redis

from . import workspace_values
from .auth import Authenticator
from .clock import Clock, SystemClock
from .config import Config
from .db import models
from .plugins import PluginRegistry, get_plugin_manager, install_sink_dispatcher
from .schemas import SchemaStore, add_action_schemas, add_platform_option_schemas, fill_catalogue_enums


class NoRuntimeInstalled(RuntimeError):
    """A job ran in a process whose worker installed no runtime."""


def connect_redis(url: str) -> redis.Redis:
    """A Redis client that fails fast when the server is down (the API keeps serving without it)."""
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2.0, health_check_interval=30)


@dataclasses.dataclass
class Runtime:
    """Everything Herald's code shares: settings, plugins, schemas, Redis, authentication and the clock."""

    config: Config
    pm: pluggy.PluginManager
    registry: PluginRegistry
    schemas: SchemaStore
    auth: Authenticator
    redis: redis.Redis
    clock: Clock
    limiter: Any = None  # flask-limiter's Limiter, set by create_app (only a web process has one)

    @classmethod
    def build(cls, config: Config, pm: pluggy.PluginManager | None = None, clock: Clock | None = None) -> Runtime:
        """Bind the database, load the plugins (unless ``pm`` is given), compile the schemas, connect Redis.

        ``clock`` (default: the system's) is also the one row timestamps default to (see
        :func:`herald.db.models.bind_clock`), so a stored ``created_at`` and the code comparing it agree.
        """
        config.data_dir.mkdir(parents=True, exist_ok=True)
        clock = clock or SystemClock()
        models.bind_database(config.resolved_database_url, config.database_busy_timeout_seconds,
                             config.database_group_readable)
        models.bind_clock(clock)
        pm = pm or get_plugin_manager(config.plugins, config.trace_plugins)
        registry = PluginRegistry(pm)
        registry.check_settings(config)
        registry.ai_provider(config.ai_provider)  # a name no loaded provider has stops start-up here
        schemas = SchemaStore()
        fill_catalogue_enums(schemas, {"event_types": registry.event_type_names()})
        add_action_schemas(registry, schemas)
        add_platform_option_schemas(registry, schemas)
        schemas.add("settings_update", workspace_values.settings_schema(registry, schemas.schemas["settings_update"]))
        runtime = cls(config=config, pm=pm, registry=registry, schemas=schemas,
                      auth=Authenticator(config.key_cache_seconds, config.resolved_secret_key(), clock),
                      redis=connect_redis(config.redis_url), clock=clock)
        install_sink_dispatcher(pm, registry, runtime)  # committed events reach the webhook sinks (on_event)
        return runtime


_for_jobs: Runtime | None = None


def install_for_jobs(runtime: Runtime | None) -> None:
    """Make ``runtime`` the one RQ jobs run in this process use (None removes it)."""
    global _for_jobs
    _for_jobs = runtime


def installed_for_jobs() -> Runtime | None:
    """The runtime installed for jobs in this process, if any."""
    return _for_jobs


def for_jobs() -> Runtime:
    """The runtime RQ job entry functions use; :class:`NoRuntimeInstalled` when none was installed."""
    if _for_jobs is None:
        raise NoRuntimeInstalled(
            "No Herald runtime is installed in this process, so this job cannot run. Run jobs with "
            "`herald worker`, or `rq worker --worker-class herald.work.workers.HeraldSimpleWorker` (or "
            "HeraldForkWorker), or call herald.runtime.install_for_jobs(runtime) before working.")
    return _for_jobs
