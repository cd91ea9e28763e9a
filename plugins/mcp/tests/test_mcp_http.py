"""``POST /mcp``: the MCP server over streamable HTTP, driven by the SDK's own client against Herald
served on loopback (the test's application, in a thread), publishing to the scripted platform."""

from __future__ import annotations

import datetime as dt
import json

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp_drive import answer, http_client, refusal, resource, serving

from drive import advance, work

TOKEN = "scripted-token-4242"
SCHEMA_FIELDS = ("dry_run", "confirm", "schedule", "accounts")


@pytest.fixture(autouse=True)
def scripted(plugin):
    """The scripted platform, loaded before the application is made (the suite's ``plugin``)."""
    return plugin


@pytest.fixture
def account(client, tenant) -> str:
    """A connected account of the scripted platform."""
    connected = client.post("/v1/accounts", headers=tenant.headers,
                            json={"platform": "scripted", "access_token": TOKEN})
    assert connected.status_code == 201, connected.get_json()
    return connected.get_json()["id"]


@pytest.fixture
def url(app):
    """The MCP endpoint of the test's Herald, served on loopback."""
    with serving(app) as address:
        yield address


def post_in_herald(client, tenant, post_id: str) -> dict:
    """The post as Herald's API shows it."""
    shown = client.get(f"/v1/posts/{post_id}", headers=tenant.headers)
    assert shown.status_code == 200, shown.get_json()
    return shown.get_json()


def test_an_assistant_drafts_dry_runs_and_schedules_a_post(url, client, tenant, clock, redis_client, account,
                                                          plugin):
    workspace, client_id = tenant, tenant.client.id
    at = (clock.now() + dt.timedelta(days=2)).replace(microsecond=0)
    schedule = at.isoformat() + "Z"

    async def assistant():
        async with http_client(url, workspace.key) as mcp:
            tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
            assert {"list_clients", "list_accounts", "create_draft", "update_draft", "score_caption",
                    "generate_hooks", "request_approval", "publish_post", "get_post", "get_analytics"} <= set(tools)
            publish_schema = tools["publish_post"].input_schema["properties"]
            assert publish_schema["dry_run"]["default"] is True
            assert all(publish_schema[name].get("description") for name in SCHEMA_FIELDS)
            assert "next_slot" in publish_schema["schedule"]["examples"]

            clients = await answer(mcp, "list_clients")
            assert [client["id"] for client in clients["clients"]] == [client_id]
            accounts = await answer(mcp, "list_accounts")
            assert [row["id"] for row in accounts["accounts"]] == [account]

            draft = (await answer(mcp, "create_draft", client_id=client_id, caption="Autumn menu #bakery",
                                  platforms=["scripted"]))["post"]
            post_id = f"post_{draft['id']}"
            assert draft["status"] == "draft"
            edited = await answer(mcp, "update_draft", post_id=post_id, caption="Autumn menu, from 7am #bakery")
            assert edited["post"]["caption"] == "Autumn menu, from 7am #bakery"

            request = {"accounts": [account], "post_id": post_id, "schedule": schedule}
            dry = await answer(mcp, "publish_post", **request)
            assert dry["dry_run"] is True and dry["post_id"] == post_id
            assert [(task["account_id"], task["status"]) for task in dry["tasks"]] == [(account, "queued")]
            assert dry["scheduled_at"] == schedule and dry["confirm"].startswith("dry_")
            assert post_in_herald(client, workspace, post_id)["tasks"] == []  # nothing went out

            skipped = await refusal(mcp, "publish_post", **request, dry_run=False)
            assert skipped["error"]["field"] == "confirm"
            changed = await refusal(mcp, "publish_post", **{**request, "schedule": "now"}, dry_run=False,
                                    confirm=dry["confirm"])  # the confirm of another request
            assert changed["error"]["field"] == "confirm"
            assert post_in_herald(client, workspace, post_id)["tasks"] == []

            scheduled = await answer(mcp, "publish_post", **request, dry_run=False, confirm=dry["confirm"])
            assert scheduled["id"] == post_id and scheduled["status"] == "queued"
            stored = post_in_herald(client, workspace, post_id)
            assert stored["status"] == "queued" and stored["scheduled_at"] == schedule
            assert [(task["account_id"], task["status"]) for task in stored["tasks"]] == [(account, "queued")]

            status = await answer(mcp, "get_post", post_id=post_id)
            assert [(task["platform"], task["status"]) for task in status["tasks"]] == [("scripted", "queued")]
            recent = await resource(mcp, f"herald://clients/{client_id}/recent-posts")
            assert [(post["id"], post["status"]) for post in recent["posts"]] == [(post_id, "queued")]
            return post_id

    post_id = anyio.run(assistant)
    advance(redis_client, (at - clock.now()).total_seconds() + 1)  # the post falls due and goes out
    work(redis_client)
    [live] = plugin.platform.posts
    assert live["caption"] == "Autumn menu, from 7am #bakery"

    async def follow_up():
        async with http_client(url, workspace.key, header="X-API-Key") as mcp:
            status = await answer(mcp, "get_post", post_id=post_id)
            assert [(task["platform"], task["status"], task["platform_post_id"]) for task in status["tasks"]] == [
                ("scripted", "published", live["id"])]

    anyio.run(follow_up)


def test_a_read_only_key_reads_but_cannot_draft_or_publish(url, client, tenant, account):
    created = client.post("/api/keys", headers=tenant.headers, json={"name": "reader", "scopes": ["posts:read"]})
    assert created.status_code == 201, created.get_json()
    key = created.get_json()["key"]  # the same workspace's: the key's scopes refuse, not the workspace

    async def assistant():
        async with http_client(url, key) as mcp:
            assert (await answer(mcp, "list_accounts"))["accounts"][0]["id"] == account
            refused = await refusal(mcp, "publish_post", accounts=[account], content="Hello", schedule="now")
            assert refused["status"] == 403 and refused["error"]["code"] == "forbidden"
            assert "'publish' scope" in refused["error"]["message"]
            drafting = await refusal(mcp, "create_draft", client_id=tenant.client.id, caption="x")
            assert drafting["error"]["code"] == "forbidden"

    anyio.run(assistant)
    posts = client.get("/v1/posts", headers=tenant.headers).get_json()
    assert posts["total"] == 0


def test_api_errors_reach_the_assistant_as_the_envelope(url, tenant, make_tenant, account):
    other = make_tenant("Other Agency")

    async def assistant():
        async with http_client(url, tenant.key) as mcp:
            missing = await refusal(mcp, "get_post", post_id="post_999")
            assert missing == {"status": 404, "error": {"code": "not_found", "field": "post_id",
                                                        "message": "No post 'post_999' in this workspace."}}
            elsewhere = await refusal(mcp, "create_draft", client_id=other.client.id, caption="Not mine")
            assert (elsewhere["status"], elsewhere["error"]["code"], elsewhere["error"]["field"]) == (
                404, "not_found", "client_id")
            invalid = await refusal(mcp, "publish_post", accounts=[account], content="x", schedule="someday")
            assert (invalid["status"], invalid["error"]["field"]) == (400, "schedule")
            with pytest.raises(MCPError) as raised:  # a resource the API refuses is an MCP error
                await mcp.read_resource(f"herald://clients/{other.client.id}/brand-memory")
            assert json.loads(raised.value.error.message)["error"]["code"] == "not_found"

    anyio.run(assistant)


def test_brand_memory_is_a_resource(url, tenant):
    async def assistant():
        async with http_client(url, tenant.key) as mcp:
            templates = {template.uri_template for template in (await mcp.list_resource_templates()).resource_templates}
            assert templates == {"herald://clients/{client_id}/brand-memory",
                                 "herald://clients/{client_id}/recent-posts"}
            return await resource(mcp, f"herald://clients/{tenant.client.id}/brand-memory")

    memory = anyio.run(assistant)
    assert memory["client"]["id"] == tenant.client.id and "hashtags" in memory


def raw_call(client, headers: dict) -> tuple[int, dict]:
    response = client.post("/mcp", headers={"Accept": "application/json, text/event-stream", **headers},
                                  json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    return response.status_code, response.get_json()


def test_without_a_valid_api_key_the_endpoint_answers_401(url, client, tenant):
    assert raw_call(client, {})[0] == 401
    status, body = raw_call(client, {"Authorization": "Bearer hrld_live_not-a-key"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert raw_call(client, {"X-API-Key": tenant.key}) == (200, {"jsonrpc": "2.0", "id": 1,
                                                                                  "result": {}})

    async def assistant():
        async with http_client(url, "hrld_live_not-a-key") as mcp:
            await mcp.list_tools()

    with pytest.raises(BaseExceptionGroup) as raised:  # the client's task group gives up on the 401
        anyio.run(assistant)
    assert [type(error) for error in leaves(raised.value)] == [MCPError]  # the 401 above: nothing was listed


def leaves(group: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    if isinstance(group, BaseExceptionGroup):
        return [leaf for inner in group.exceptions for leaf in leaves(inner)]
    return [group]


def test_a_workspace_with_the_plugin_disabled_gets_feature_disabled(client, tenant, make_tenant):
    changed = client.put("/api/admin/plugins/mcp", headers=tenant.headers, json={"enabled": False})
    assert changed.status_code == 200, changed.get_json()
    status, body = raw_call(client, {"X-API-Key": tenant.key})
    assert status == 403 and body["error"]["code"] == "feature_disabled"
    assert "PUT /api/admin/plugins/mcp" in body["error"]["message"]
    assert raw_call(client, {"X-API-Key": make_tenant("Other Agency").key})[0] == 200  # only that workspace


@pytest.mark.parametrize(("content_type", "body", "code"), [
    ("text/plain", "hello", "unsupported_media_type"),
    ("application/json", "{}", "validation_error"),
    ("application/json", "[", "validation_error")])
def test_what_the_transport_refuses_is_answered_in_the_envelope(client, tenant,
                                                                content_type, body, code):
    response = client.post("/mcp", data=body, content_type=content_type,
                                  headers={"X-API-Key": tenant.key,
                                           "Accept": "application/json, text/event-stream"})
    assert response.status_code in (400, 415) and response.get_json()["error"]["code"] == code
    assert len(json.dumps(response.get_json())) < 600
