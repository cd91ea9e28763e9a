"""Herald's test kit, a pytest plugin: what a plugin's tests need to run it inside a real Herald.

Enable it in the plugin's ``conftest.py``::

    pytest_plugins = ("herald.testing",)

Everything is real: a SQLite database in the test's temporary directory with the core's and every
loaded plugin's migrations applied, a Redis database emptied before each test (``HERALD_TEST_REDIS_URL``,
``redis://127.0.0.1:6379/15`` by default; under pytest-xdist each worker takes one database lower),
RQ jobs run by Herald's own worker in the test's process, and a clock that moves only when the test
moves it. Fixtures:

- ``herald_clock``: the :class:`herald.clock.FakeClock` every timestamp and due time reads;
- ``herald_config``: the :class:`herald.config.Config` of that database and Redis (override the fixture,
  or use ``herald_app_factory``, to change settings);
- ``register_plugin``: ``register_plugin(plugin, name)`` loads a plugin object or module for this test
  (before the app is made), as its entry point would;
- ``herald_app_factory``: ``herald_app_factory(**changes)`` makes the application with settings changed:
  the core's (``Config`` fields) and plugins' (``Setting`` names, ``mastodon_timeout=5``);
- ``herald_app`` and ``herald_client``: the application with ``herald_config``, and its test client;
- ``herald_workspace``: a workspace with a client and an API key of every scope (``.headers``);
- ``herald_jobs``: a :class:`Jobs` driver: ``run()`` performs every queued job, ``advance(seconds)``
  moves the clock and releases the jobs that became due, ``cron()`` runs ``herald cron``'s periodic
  jobs once (the reconciler, the token health check, the engagement pull).

The platform a plugin talks to is faked with :class:`FakeAPI` (:mod:`herald.fake_api`): routes
answering from the fake's own state, a log of every call, and injected faults (an error answer, an
answer lost after the platform acted, a slow answer).

:func:`publish_through_crashes` (:mod:`herald.crash_testing`) is the crash test for any platform plugin:
real ``herald worker`` processes publish the queued posts and are SIGKILLed at random points, time
passes, the reconciler hands orphaned tasks to the plugin's ``reconcile``, until everything is final;
the test then asserts that its fake holds each post exactly once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
import redis

from . import work
from .auth import SCOPES, create_api_key
from .clock import FakeClock, SystemClock
from .config import Config
from .crash_testing import CrashReport, publish_through_crashes, release_due
from .cron import PERIODIC
from .db.models import Client, Workspace, bind_clock, db, open_database
from .fake_api import Call, FakeAPI, route
from .plugins import get_plugin_manager
from .runtime import Runtime, install_for_jobs, installed_for_jobs
from .upgrading import upgrade
from .web.app import create_app
from .work.queue import DEFAULT_QUEUE, get_queue, make_worker, queue_names
from .work.workers import HeraldSimpleWorker

__all__ = ["Call", "CrashReport", "FakeAPI", "Jobs", "TestWorkspace", "fresh_config", "publish_through_crashes",
           "redis_url_for_tests", "release_due", "route", "start_app", "with_changes"]

CONFIG_FIELDS = frozenset(field.name for field in dataclasses.fields(Config))


def redis_url_for_tests() -> str:
    """``HERALD_TEST_REDIS_URL`` (database 15 by default), one database lower for each further
    pytest-xdist worker (gw1 gets 14), so that parallel workers never empty each other's data."""
    base = urlparse(os.environ.get("HERALD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    database = int(base.path.strip("/") or 0) - int(worker.removeprefix("gw") or 0)
    if database < 0:
        raise RuntimeError(f"too many pytest-xdist workers for Redis databases below {base.geturl()}")
    return base._replace(path=f"/{database}").geturl()


def with_changes(config: Config, **changes: Any) -> Config:
    """``config`` with ``changes``: fields of ``Config`` replaced, the rest set as plugins' settings."""
    core = {name: value for name, value in changes.items() if name in CONFIG_FIELDS}
    plugin = {name: value for name, value in changes.items() if name not in CONFIG_FIELDS}
    return dataclasses.replace(config, **core).with_settings(**plugin)


def start_app(clock, config: Config, pm=None):
    """The Herald application for ``config`` on ``clock``. Its runtime is the one jobs run in this
    process use from now on, as ``herald worker`` installs its own."""
    application = create_app(Runtime.build(config, pm, clock))
    install_for_jobs(application.extensions["herald"])
    return application


class CountingWorker(HeraldSimpleWorker):
    """Herald's in-process worker (what ``herald worker`` runs by default), counting the jobs it performed."""

    performed = 0

    def perform_job(self, *args, **kwargs):
        """Perform one job, counting it."""
        self.performed += 1
        return super().perform_job(*args, **kwargs)


class Jobs:
    """Runs the jobs of the installed runtime in this process, on its clock: no sleeping, no waiting."""

    def run(self, max_jobs: int = 1000) -> int:
        """Perform queued jobs until every queue is empty (at most ``max_jobs``); how many ran."""
        runtime = installed_for_jobs()
        worker = make_worker(runtime.redis, queue_names(runtime), worker_class=CountingWorker)
        worker.work(burst=True, max_jobs=max_jobs, with_scheduler=False, logging_level="WARNING")
        return worker.performed

    def release_due(self) -> int:
        """What RQ's scheduler does each second, at the clock's time (:func:`release_due`), after what
        ``herald cron`` did meanwhile for work coming due: hand it to RQ as it enters the lookahead
        (:func:`herald.work.hand_over`; work due later is not in Redis)."""
        runtime = installed_for_jobs()
        work.hand_over(runtime)
        return release_due(runtime.redis, queue_names(runtime), runtime.clock.timestamp())

    def advance(self, seconds: float) -> int:
        """Move the clock ``seconds`` forward, release the jobs due by then and run every queued job."""
        installed_for_jobs().clock.advance(seconds)
        self.release_due()
        return self.run()

    def cron(self) -> int:
        """What ``herald cron`` does each period, once, at the clock's time: queue the reconciler (it
        hands a task whose worker died, its lease run out, to the platform's ``reconcile``), the token
        health check and the engagement pull, then run every queued job. How many jobs ran."""
        runtime = installed_for_jobs()
        queue = get_queue(runtime.redis, DEFAULT_QUEUE)
        for chore, _, _ in PERIODIC:
            queue.enqueue(chore)
        return self.run()


@dataclasses.dataclass
class TestWorkspace:
    """A workspace with one client and an API key of every scope, as a test sees it."""

    __test__ = False  # not a test class, whatever its name

    workspace: Workspace
    client: Client
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """The API key's header, for the test client's requests."""
        return {"X-API-Key": self.key}


@pytest.fixture
def herald_clock() -> FakeClock:
    """The test's clock: it moves only when the test moves it (``herald_jobs.advance``)."""
    return FakeClock()


@pytest.fixture
def herald_config(tmp_path) -> Config:
    """Settings for a fresh, migrated SQLite database in ``tmp_path`` and the test's Redis database
    (emptied first). Plugins' settings are at their defaults: change them with ``herald_app_factory``."""
    return fresh_config(tmp_path)


def fresh_config(tmp_path) -> Config:
    """What ``herald_config`` answers: a fresh, migrated SQLite database in ``tmp_path`` and the test's
    Redis database, emptied."""
    database_url = f"sqlite:///{tmp_path / 'herald.db'}"
    database = open_database(database_url)
    upgrade(database)
    database.close_all()
    redis_url = redis_url_for_tests()
    redis.Redis.from_url(redis_url).flushdb()
    return Config(data_dir=tmp_path, database_url=database_url, redis_url=redis_url, secret_key="test-secret-key",
                  testing=True, insecure_cookies=True)


@pytest.fixture
def register_plugin() -> Iterator[Callable[[Any, str], Any]]:
    """``register_plugin(plugin, name)``: load ``plugin`` (a module or an object with hook
    implementations) on the process-wide plugin manager for this test, as an installed plugin named
    ``name``. Register before the application is made: it collects what plugins register then."""
    manager = get_plugin_manager()
    names: list[str] = []

    def register(plugin: Any, name: str) -> Any:
        manager.register(plugin, name=name)
        names.append(name)
        return plugin

    yield register
    for name in reversed(names):
        manager.unregister(name=name)


@pytest.fixture
def herald_app_factory(herald_config, herald_clock):
    """``herald_app_factory(**changes)``: the application with ``herald_config`` changed (see
    :func:`with_changes`), on the test's clock; its runtime is the one in-process jobs use. The
    applications it made are in ``herald_app_factory.made``, the latest last."""

    def make(**changes: Any):
        if db.obj is not None:
            db.obj.close_all()
        application = start_app(herald_clock, with_changes(herald_config, **changes))
        make.made.append(application)
        return application

    make.made = []
    yield make
    if db.obj is not None:
        db.obj.close_all()
    install_for_jobs(None)
    bind_clock(SystemClock())


@pytest.fixture
def herald_app(herald_app_factory):
    """The test's application: the latest one ``herald_app_factory`` made (with the test's settings),
    else one with ``herald_config`` as it is. ``herald_workspace`` and ``herald_jobs`` use it, so a
    test that makes its application with changed settings gets its workspace and jobs there."""
    return herald_app_factory.made[-1] if herald_app_factory.made else herald_app_factory()


@pytest.fixture
def herald_client(herald_app):
    """A Flask test client of ``herald_app``."""
    return herald_app.test_client()


@pytest.fixture
def herald_workspace(herald_app) -> TestWorkspace:
    """A workspace of ``herald_app`` with one client and an API key of every scope."""
    with herald_app.app_context(), db.connection_context():
        workspace = Workspace.create(name="Test Agency")
        client = Client.create(workspace=workspace, name="Test Client")
        _, key = create_api_key(workspace, SCOPES, name="test")
    return TestWorkspace(workspace, client, key)


@pytest.fixture
def herald_jobs(herald_app) -> Jobs:
    """Runs ``herald_app``'s jobs in this process (:class:`Jobs`)."""
    return Jobs()
