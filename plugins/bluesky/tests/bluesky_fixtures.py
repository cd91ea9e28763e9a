"""Fixtures of the Bluesky plugin's tests (each test module imports them): the fake PDS, Herald's settings
pointing at it, and Herald served on loopback so that the plugin can download media from
``HERALD_PUBLIC_URL`` as it does in production.

Not a ``conftest.py``: the suite's other tests import the top-level ``conftest`` by name, which a second
conftest module would shadow. Herald's test kit (``herald.testing``) is loaded by ``-p herald.testing``
(this distribution's ``pyproject.toml``, and Herald's ``setup.cfg`` when the whole suite runs).
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
from fake_bluesky import FakeBluesky, connect_body, settings
from werkzeug.serving import make_server

__all__ = ["account", "bluesky", "client", "herald_config", "public_server"]


@pytest.fixture
def bluesky():
    """The fake PDS (and AppView) for this test."""
    with FakeBluesky() as fake:
        yield fake


@pytest.fixture
def public_server():
    """A loopback HTTP server that will serve the test's Herald application (``served["app"]``), for the
    media links the plugin downloads."""
    served: dict = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: served["app"](environ, start), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    served["url"] = f"http://127.0.0.1:{server.server_port}"
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture
def herald_config(herald_config, bluesky, public_server):
    """The kit's settings with the PDS and the AppView on the fake and media served on loopback."""
    return dataclasses.replace(herald_config, public_url=public_server["url"]).with_settings(**settings(bluesky))


@pytest.fixture
def client(herald_app, herald_client, public_server):
    """The test client of the application, which the loopback server serves too."""
    public_server["app"] = herald_app
    return herald_client


@pytest.fixture
def account(client, herald_workspace):
    """The fake's account, connected through ``POST /v1/accounts``; its id."""
    answer = client.post("/v1/accounts", headers=herald_workspace.headers, json=connect_body())
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]
