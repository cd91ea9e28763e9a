"""Schemathesis against a live ``herald serve``: every operation of ``/openapi.json`` fed generated
requests (a fixed seed, a few examples each), authenticated with the demo workspace's API key.

It fails on a 5xx, a status the document does not list for the operation, a body that does not
match the documented schema (errors included: the envelope), and a media type the document does not
declare. Bounded: about 10 s of requests on two cores.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from redis_server import free_port
from serve_drive import HERALD, call, output, wait_for_health

from fakes.graph import PAGE_TOKEN

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")
# Revoking a key could revoke the one the run authenticates with; logging out needs no key either way.
EXCLUDED = r"^/api/keys/"


def demo_key(env: dict[str, str]) -> str:
    """Run ``herald demo`` and read the API key it prints."""
    printed = subprocess.run([*HERALD, "demo"], env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    return re.search(r"API key \(shown once\): (\S+)", printed).group(1)


def a_week_ahead() -> str:
    """A schedule the server (on the system's clock) takes: a week from now."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def live_herald(herald_env, start_herald, fake):
    """A ``herald serve`` on loopback (Meta hosts at the fake Graph API, limits out of the way) and a demo key."""
    env = {**herald_env, "HERALD_RATE_LIMIT": "1000000/minute", "HERALD_AUTH_FAILURE_LIMIT": "1000000/minute",
           "HERALD_LOGIN_RATE_LIMIT": "1000000/minute", "HERALD_PORTAL_RATE_LIMIT": "1000000/minute",
           "HERALD_GRAPH_BASE_URL": fake.base_url, "HERALD_INSTAGRAM_BASE_URL": fake.base_url,
           "HERALD_GEMINI_BASE_URL": "http://127.0.0.1:9"}
    key = demo_key(env)
    port = free_port()
    process = start_herald("serve", "--port", port, "--workers", 1, env=env)
    wait_for_health(process, port)
    headers = {"X-API-Key": key}
    # Something for the generated ids to find: a connected account and a post with its tasks.
    status, account = call(port, "POST", "/v1/accounts", {"platform": "facebook", "access_token": PAGE_TOKEN},
                           headers)
    assert status in (200, 201), account
    status, post = call(port, "POST", "/v1/publish", {"content": "Seeded", "accounts": [account["id"]],
                                                      "schedule": a_week_ahead()}, headers)
    assert status == 201, post
    return process, port, key


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed (pip install -e '.[test]')")
def test_the_live_server_answers_as_its_openapi_document_says(live_herald, tmp_path):
    process, port, key = live_herald
    command = [str(SCHEMATHESIS), "run", f"http://127.0.0.1:{port}/openapi.json", "--header", f"X-API-Key: {key}",
               "--seed", "1", "--max-examples", "5", "--phases", "examples,coverage,fuzzing", "--workers", "2",
               "--checks", ",".join(CHECKS), "--exclude-path-regex", EXCLUDED, "--generation-database", "none",
               "--no-color", "--request-timeout", "20"]
    hooks = Path(__file__).with_name("schemathesis_hooks.py")  # every generated URL points at loopback
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "SCHEMATHESIS_HOOKS": str(hooks)})
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-20000:] + "\n--- server log ---\n" + output(process)[-5000:]
    tested = re.search(r"Tested: (\d+)", report)
    assert tested and int(tested.group(1)) > 60, report[-3000:]  # every operation was reached
