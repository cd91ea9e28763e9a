"""``herald mcp``: the MCP server over stdio, started as a subprocess by the SDK's own client on the
test's database and Redis (``HERALD_*``), as Claude Desktop starts it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_drive import answer, refusal, resource
from serve_drive import HERALD

# ``herald`` with the scripted platform loaded (herald_with_scripted.py), for the test that publishes
WITH_SCRIPTED = [sys.executable, str(Path(__file__).with_name("herald_with_scripted.py"))]


@pytest.fixture(autouse=True)
def scripted(plugin):
    """The scripted platform in this process too (connecting its account through the test client)."""
    return plugin


def stdio_client(env: dict[str, str], key: str) -> Client:
    """The SDK's client, starting ``herald mcp`` (with the scripted platform) with ``key`` in HERALD_API_KEY."""
    command, *args = WITH_SCRIPTED
    return Client(StdioServerParameters(command=command, args=[*args, "mcp"], env={**env, "HERALD_API_KEY": key}))


def test_an_assistant_on_stdio_drafts_dry_runs_and_schedules_a_post(herald_env, client, tenant):
    connected = client.post("/v1/accounts", headers=tenant.headers,
                            json={"platform": "scripted", "access_token": "scripted-token-7777"})
    account = connected.get_json()["id"]
    schedule = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def assistant():
        async with stdio_client(herald_env, tenant.key) as mcp:
            assert "publish_post" in {tool.name for tool in (await mcp.list_tools()).tools}
            clients = await answer(mcp, "list_clients")
            assert [row["name"] for row in clients["clients"]] == [tenant.client.name]
            draft = (await answer(mcp, "create_draft", client_id=tenant.client.id, caption="Spring menu"))["post"]
            post_id = f"post_{draft['id']}"
            score = await answer(mcp, "score_caption", caption="Spring menu", client_id=tenant.client.id)
            assert 0 <= score["score"] <= 100
            request = {"accounts": [account], "post_id": post_id, "schedule": schedule}
            dry = await answer(mcp, "publish_post", **request)
            assert dry["dry_run"] is True and [task["status"] for task in dry["tasks"]] == ["queued"]
            scheduled = await answer(mcp, "publish_post", **request, dry_run=False, confirm=dry["confirm"])
            assert scheduled["status"] == "queued" and scheduled["scheduled_at"] == schedule
            status = await answer(mcp, "get_post", post_id=post_id)
            assert [(task["account_id"], task["status"]) for task in status["tasks"]] == [(account, "queued")]
            recent = await resource(mcp, f"herald://clients/{tenant.client.id}/recent-posts")
            assert [post["id"] for post in recent["posts"]] == [post_id]
            missing = await refusal(mcp, "request_approval", post_id="post_999")
            assert missing["status"] == 404 and missing["error"]["code"] == "not_found"
            return post_id

    post_id = anyio.run(assistant)
    stored = client.get(f"/v1/posts/{post_id}", headers=tenant.headers).get_json()
    assert stored["status"] == "queued" and stored["scheduled_at"] == schedule  # in Herald, scheduled


@pytest.mark.parametrize(("key", "words"), [
    ("hrld_live_not-a-key", "Herald refused to start the MCP server (401 unauthorized): API key missing, invalid, "
                            "or expired."),
    ("", "No API key: set HERALD_API_KEY or pass --key")], ids=["wrong key", "no key"])
def test_herald_mcp_without_a_valid_key_stops_at_once_with_a_clear_message(herald_env, app, key, words):
    ran = subprocess.run([*HERALD, "mcp"], env={**herald_env, "HERALD_API_KEY": key}, input="", capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 1
    assert ran.stderr.strip().startswith(f"Error: {words}"), ran.stderr
    assert ran.stdout == ""  # stdout is the protocol's


def test_herald_mcp_refuses_a_workspace_where_the_plugin_is_disabled(herald_env, client, tenant):
    client.put("/api/admin/plugins/mcp", headers=tenant.headers, json={"enabled": False})
    ran = subprocess.run([*HERALD, "mcp", "--key", tenant.key], env=herald_env, input="", capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 1 and "403 feature_disabled" in ran.stderr and "Traceback" not in ran.stderr
