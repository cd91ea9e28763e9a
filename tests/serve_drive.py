"""Fixtures and helpers for tests that run ``herald`` commands (``serve``, ``worker``, ``run``) as real
processes on a free port (registered in conftest's ``pytest_plugins``)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TEST_REDIS_URL

# The console script next to the test's Python, as installed; ``python -m herald.cli`` otherwise.
_SCRIPT = Path(sys.executable).with_name("herald")
HERALD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "herald.cli"]
# Seconds for a command to answer. They take about one on an idle machine, several while other test
# runs load both cores; waiting returns as soon as the command answers, so a long limit costs nothing.
START_TIMEOUT = 30.0


@pytest.fixture
def herald_env(config, redis_client, tmp_path) -> dict[str, str]:
    """The environment of a ``herald`` process using the test's database, data directory and Redis."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("HERALD_")}
    env.update(HERALD_DATA_DIR=str(config.data_dir), HERALD_DATABASE_URL=config.database_url,
               HERALD_REDIS_URL=TEST_REDIS_URL, HERALD_SECRET_KEY=config.secret_key, HERALD_INSECURE_COOKIES="1",
               # gunicorn's control socket goes to $XDG_RUNTIME_DIR: keep it away from other gunicorns.
               XDG_RUNTIME_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def start_herald(tmp_path):
    """Factory: start ``herald ARGS…`` in a session of its own; anything left is killed afterwards."""
    started: list[subprocess.Popen] = []

    def start(*args, env: dict[str, str]) -> subprocess.Popen:
        log_path = tmp_path / f"herald-{len(started)}.log"
        with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen([*HERALD, *map(str, args)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        process.log_path = log_path
        started.append(process)
        return process

    yield start
    for process in started:
        # The whole group, even when the process itself is gone: a test that killed a worker leaves the
        # scheduler it forked running, and that scheduler would hold RQ's scheduler locks for later tests.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # its own process group: only what the test started
        process.wait(timeout=10)


def output(process: subprocess.Popen) -> str:
    """What the process printed so far."""
    return process.log_path.read_text(errors="replace")


def call(port: int, method: str, path: str, payload: dict | None = None, headers=None) -> tuple[int, dict]:
    """One HTTP request to 127.0.0.1:``port``; returns the status and the JSON body."""
    status, body = request(port, method, path, json.dumps(payload) if payload is not None else None,
                           {"Content-Type": "application/json", **(headers or {})})
    return status, json.loads(body)


def request(port: int, method: str, path: str, body: str | None = None, headers=None) -> tuple[int, bytes]:
    """One HTTP request to 127.0.0.1:``port`` on a new connection; returns the status and the raw body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_for_health(process: subprocess.Popen, port: int, timeout: float = START_TIMEOUT) -> dict:
    """Poll ``GET /health`` until it answers 200; fails early when the process exits."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            status, body = call(port, "GET", "/health")
            if status == 200:
                return body
            last = (status, body)
        except OSError as exc:  # not listening yet
            last = exc
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)  # returns at once when the process dies
            pytest.fail(f"herald exited with {process.returncode} before /health answered:\n{output(process)}")
    pytest.fail(f"/health did not answer 200 within {timeout} s (last: {last}):\n{output(process)}")


