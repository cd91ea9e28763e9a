"""Fixtures of Herald's own suite, for the core's tests (``tests/``) and its plugins' (``plugins/<name>/tests``):
a fresh database (SQLite, or PostgreSQL when HERALD_TEST_POSTGRES is set), a real Redis database
flushed per test, the application and workspaces with API keys. The shared helpers (``drive``,
``fakes``, ...) live in ``tests/``, which is put on the import path here. A plugin written elsewhere
needs none of this: ``herald.testing`` is its kit."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

import psycopg2
import pytest
import redis

from drive import OffsetClock
from fakes.graph import FakeGraph
from fakes.receiver import Receiver
from herald import schemas
from herald.auth import SCOPES, create_api_key
from herald.clock import FakeClock, SystemClock
from herald.config import Config
from herald.db import models
from herald.db.migrate import HISTORY_TABLE
from herald.db.models import Client, Workspace, bind_clock, db, open_database
from herald.events import dispatch_marks
from herald.runtime import install_for_jobs
from herald.testing import TestWorkspace as Tenant
from herald.testing import fresh_config, redis_url_for_tests, start_app, with_changes  # noqa: F401 (tests import them from here)
from herald.upgrading import upgrade
from scripted_platform import ScriptedPlugin

schemas.CROSSCHECK = True  # every request the tests validate checks jsonschema-rs against jsonschema


TEST_REDIS_URL = redis_url_for_tests()
POSTGRES_URL = os.environ.get("HERALD_TEST_POSTGRES")
pytest_plugins = ("ai_drive", "serve_drive", "media_store_support")  # fixtures of the AI tests (gemini, ai_app, api);
# of herald processes; of the media stores (moto_endpoint)


@pytest.fixture(scope="session")
def postgres_database():
    """A PostgreSQL database for this test session, migrated once (None when running on SQLite)."""
    if not POSTGRES_URL:
        yield None
        return
    name = f"herald_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    parsed = urlparse(POSTGRES_URL)
    url = parsed._replace(path=f"/{name}").geturl()
    database = open_database(url)
    upgrade(database)
    database.close_all()
    yield url
    # Marks the last test's requests still owe would otherwise be written at exit, to a dropped database.
    dispatch_marks.write_owed()
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def redis_client():
    """The test Redis database, emptied before the test."""
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def config(tmp_path, postgres_database, redis_client) -> Config:
    """Settings for one test: its own data directory and an empty database."""
    # Ids restart at 1 in every test database: forget per-process caches keyed by them.
    models._plugin_cache.clear()
    if postgres_database:
        database = open_database(postgres_database)
        # Every table (plugins' too) except the migration histories.
        tables = ", ".join(f'"{name}"' for name in database.get_tables()
                           if not name.startswith(HISTORY_TABLE))
        database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        database.close_all()
        database_url = postgres_database
    else:
        database_url = f"sqlite:///{tmp_path / 'herald.db'}"
        database = open_database(database_url)
        upgrade(database)
        database.close_all()
    # Gemini at a closed loopback port unless a test points it at the fake: no test may reach Google.
    return Config(data_dir=tmp_path, database_url=database_url, redis_url=TEST_REDIS_URL,
                  secret_key="test-secret-key", testing=True, insecure_cookies=True,
                  plugin_settings={"gemini_base_url": "http://127.0.0.1:9"})


@pytest.fixture
def clock(request) -> FakeClock | OffsetClock:
    """The test's clock: it moves only when the test moves it (``drive.advance``). Tests marked
    ``real_time`` (crash tests, whose workers are other processes) get the system's clock plus an
    offset the test moves and hands to the workers it starts (``drive.OffsetClock``)."""
    if request.node.get_closest_marker("real_time"):
        return OffsetClock()
    return FakeClock()


def pytest_configure(config):
    """Declare the markers the suite uses."""
    config.addinivalue_line("markers", "real_time: the test runs on the system's clock plus an offset it moves "
                                       "(workers in other processes, see drive.OffsetClock)")


@pytest.fixture(autouse=True)
def _forget_the_runtime():
    """After each test: no runtime for jobs, and row defaults of a later test read the real time."""
    yield
    install_for_jobs(None)
    bind_clock(SystemClock())


@pytest.fixture
def app(config, clock):
    """The Herald application for ``config``, on the test's clock."""
    application = start_app(clock, config)
    yield application
    db.obj.close_all()


@pytest.fixture
def build_app(config, clock):
    """Factory: an application for ``config`` with some settings changed (pools closed afterwards):
    the core's (fields of ``Config``) and plugins' (by setting name)."""

    def build(**changes):
        if db.obj is not None:
            db.obj.close_all()
        return start_app(clock, with_changes(config, **changes))

    yield build
    db.obj.close_all()


@pytest.fixture
def plugin(register_plugin):
    """The scripted platform (``tests/scripted_platform.py``), registered for this test (herald.testing's
    ``register_plugin``). A test module may override it with its own platform."""
    return register_plugin(ScriptedPlugin(), "scripted")


@pytest.fixture
def fake():
    """A running fake Graph API."""
    with FakeGraph() as server:
        yield server


@pytest.fixture
def receiver():
    """A running fake webhook receiver (``tests/fakes/receiver.py``)."""
    with Receiver() as server:
        yield server


@pytest.fixture
def client(app):
    """A test client for ``app``."""
    return app.test_client()


@pytest.fixture
def make_tenant(app):
    """Factory: a workspace (with a client and a key having ``scopes``)."""
    counter = iter(range(1, 1000))

    def make(name: str | None = None, scopes=SCOPES, plan: str = "free") -> Tenant:
        with app.app_context(), db.connection_context():
            workspace = Workspace.create(name=name or f"Agency {next(counter)}", plan=plan)
            client = Client.create(workspace=workspace, name=f"{workspace.name} client")
            _, key = create_api_key(workspace, scopes, name="test")
        return Tenant(workspace, client, key)

    return make


@pytest.fixture
def tenant(make_tenant) -> Tenant:
    """A workspace with every scope."""
    return make_tenant("Acme Agency")


def assert_error(response, status: int, code: str, field: str | None = "<any>"):
    """Assert ``response`` is the error envelope with ``status``, ``code`` and (when given) ``field``."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if field != "<any>":
        assert body["error"].get("field") == field, body
    return body["error"]


# The tutorial's plugin (docs/plugins.md) is tested as a third party's: the kit as it is, not the suite's fixtures.
EXAMPLES = Path(__file__).resolve().parent / "plugins" / "mastodon"


def _third_party(request) -> bool:
    return EXAMPLES in request.path.parents


@pytest.fixture
def herald_config(request, tmp_path):
    """herald.testing's settings are the suite's: its tests run on PostgreSQL too (HERALD_TEST_POSTGRES)."""
    return fresh_config(tmp_path) if _third_party(request) else request.getfixturevalue("config")


@pytest.fixture
def herald_clock(request):
    """herald.testing's clock is the suite's (a real-time test's offset clock included)."""
    return FakeClock() if _third_party(request) else request.getfixturevalue("clock")
