"""``herald webhooks list|test|deliveries``: the webhooks plugin's console commands (``register_commands``),
driven in-process against the test application, with a fake receiver on loopback."""

from __future__ import annotations

import dataclasses
import json

import pytest
from webhooks_drive import create_webhook, delivery_log, work

from conftest import start_app
from fakes.receiver import Reply
from herald.cli import cli
from herald.db.models import db

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def app(clock, config):
    application = start_app(clock, dataclasses.replace(config, webhook_allow_private=True))
    application.extensions["herald"].pm.hook.register_commands(cli=cli)  # what `herald` does at start
    yield application
    db.obj.close_all()


@pytest.fixture
def herald_cmd(app):
    """Run ``herald ARGS…`` against ``app``; returns click's result."""
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(cli, [str(arg) for arg in args])


def test_webhooks_list_shows_every_endpoint_and_its_state(client, make_tenant, receiver, herald_cmd):
    first, second = make_tenant(), make_tenant()
    one = create_webhook(client, first, receiver.url(), ["post.created"])
    two = create_webhook(client, second, receiver.url("/other"), ["post.created", "publish.failed"])
    client.patch(f"/v1/webhooks/{two['id']}", json={"active": False}, headers=second.headers)
    listed = herald_cmd("webhooks", "list")
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        f"{one['id']}  workspace {first.workspace.id}  {receiver.url()}  post.created  active",
        f"{two['id']}  workspace {second.workspace.id}  {receiver.url('/other')}  post.created,publish.failed  "
        "disabled: by a user"]
    only = herald_cmd("webhooks", "list", "--workspace", second.workspace.id, "--json").output.splitlines()
    assert [json.loads(line)["id"] for line in only] == [two["id"]]
    assert "secret" not in json.loads(only[0])
    assert herald_cmd("webhooks", "list", "--workspace", 999).output.strip() == "No webhook endpoints."


def test_webhooks_test_sends_the_test_event_now_and_shows_the_answer(client, tenant, receiver, herald_cmd):
    hook = create_webhook(client, tenant, receiver.url(), ["post.created"], secret=SECRET)
    sent = herald_cmd("webhooks", "test", hook["id"])
    assert sent.exit_code == 0, sent.output
    sending, answer = sent.output.strip().splitlines()
    assert sending.endswith(f"webhook.test to {receiver.url()}: sending…")
    assert "delivered, HTTP 200 in " in answer
    [payload] = receiver.verified(SECRET)
    assert payload["type"] == "webhook.test" and payload["data"]["webhook_id"] == hook["id"]
    [logged] = delivery_log(client, tenant, hook["id"])  # the API's log shows the console's attempt
    assert logged["event"] == "webhook.test" and logged["success"] is True
    receiver.script.append(Reply(status=500, body=b"down"))
    refused = herald_cmd("webhooks", "test", hook["id"])
    assert refused.exit_code == 1 and "failed, HTTP 500 in " in refused.output


def test_webhooks_test_refuses_unknown_and_disabled_endpoints(client, tenant, receiver, herald_cmd):
    assert "No webhook endpoint 'wh_999'" in herald_cmd("webhooks", "test", "wh_999").output
    assert herald_cmd("webhooks", "test", "nonsense").exit_code == 1
    hook = create_webhook(client, tenant, receiver.url())
    client.patch(f"/v1/webhooks/{hook['id']}", json={"active": False}, headers=tenant.headers)
    disabled = herald_cmd("webhooks", "test", hook["id"])
    assert disabled.exit_code == 1 and "disabled" in disabled.output and receiver.received() == []


def test_webhooks_test_with_queue_leaves_the_attempt_to_a_worker(client, tenant, receiver, herald_cmd, redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    queued = herald_cmd("webhooks", "test", hook["id"], "--queue")
    assert queued.exit_code == 0 and "queued" in queued.output and receiver.received() == []
    assert work(redis_client) == 1 and len(receiver.received()) == 1


def test_webhooks_deliveries_prints_the_log_newest_first(client, tenant, receiver, herald_cmd):
    hook = create_webhook(client, tenant, receiver.url())
    receiver.script.append(Reply(status=503, body=b"busy"))
    herald_cmd("webhooks", "test", hook["id"])
    herald_cmd("webhooks", "test", hook["id"])
    log = herald_cmd("webhooks", "deliveries", hook["id"])
    assert log.exit_code == 0, log.output
    newest, oldest = log.output.strip().splitlines()
    assert newest.startswith("att_2  ") and "webhook.test" in newest and "  200  " in newest and newest.endswith("ok")
    assert oldest.startswith("att_1  ") and "  503  " in oldest and "failed: " in oldest
    assert herald_cmd("webhooks", "deliveries", hook["id"], "--limit", 1).output.strip() == newest
    failed = herald_cmd("webhooks", "deliveries", hook["id"], "--failed", "--json").output.splitlines()
    assert [json.loads(line)["status_code"] for line in failed] == [503]
    assert herald_cmd("webhooks", "deliveries", hook["id"], "--limit", 0).exit_code == 2
