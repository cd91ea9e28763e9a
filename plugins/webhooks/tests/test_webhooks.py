"""The /v1/webhooks API: endpoints, secrets, errors, workspace isolation, plugin enablement, and
signed deliveries verified by the ``standardwebhooks`` library."""

from __future__ import annotations

import dataclasses
import json

import pytest
from webhooks_drive import create_post, create_webhook, delivery_log, work

from conftest import assert_error, start_app
from drive import advance
from fakes.receiver import Receiver
from herald import events, hookimpl
from herald.auth import create_api_key
from herald.db.models import Event, db, set_plugin_enabled, write_transaction
from herald.plugins import get_plugin_manager
from herald.schemas import SchemaStore

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks example secret (24 bytes)


@pytest.fixture
def app(clock, config):
    application = start_app(clock, dataclasses.replace(config, webhook_allow_private=True))
    yield application
    db.obj.close_all()


def test_create_returns_a_generated_secret_once(client, tenant, receiver):
    created = create_webhook(client, tenant, receiver.url(), ["publish.completed", "approval.requested"])
    assert created["id"].startswith("wh_") and created["active"] is True
    assert created["url"] == receiver.url() and created["events"] == ["publish.completed", "approval.requested"]
    assert created["secret"].startswith("whsec_")
    again = create_webhook(client, tenant, receiver.url())
    assert again["secret"] != created["secret"]  # unique per endpoint
    listed = client.get("/v1/webhooks", headers=tenant.headers).get_json()["webhooks"]
    assert [row["id"] for row in listed] == [created["id"], again["id"]]
    assert all("secret" not in row for row in listed)
    assert "secret" not in client.get(f"/v1/webhooks/{created['id']}", headers=tenant.headers).get_json()


def test_deliveries_are_signed_and_verify_with_standardwebhooks(client, tenant, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url(), ["post.created"], secret=SECRET)
    assert hook["secret"] == SECRET
    post = create_post(client, tenant, "Signed hello")
    assert work(redis_client) == 1
    (payload,) = receiver.verified(SECRET)
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["type"] == "post.created" and payload["timestamp"].endswith("Z")
    with db.connection_context():
        event = Event.get(Event.type == "post.created")
    assert payload["data"] == event.data  # exactly what the event recorded with the change
    assert payload["data"]["post"]["id"] == f"post_{post['post']['id']}"  # the /v1 shape
    assert payload["data"]["post"]["content"] == "Signed hello"
    (request,) = receiver.received()
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["Content-Type"] == "application/json"
    with pytest.raises(Exception, match="No matching signature"):
        receiver.verified("whsec_" + "A" * 32)


def test_only_subscribed_endpoints_of_the_workspace_receive_an_event(client, make_tenant, redis_client):
    first, second = make_tenant("First"), make_tenant("Second")
    with Receiver() as wanted, Receiver() as unsubscribed, Receiver() as other_workspace:
        hook = create_webhook(client, first, wanted.url())
        create_webhook(client, first, unsubscribed.url(), ["publish.failed"])
        create_webhook(client, second, other_workspace.url())
        create_post(client, first)
        work(redis_client)
        assert len(wanted.verified(hook["secret"])) == 1
        assert unsubscribed.received() == [] and other_workspace.received() == []


@pytest.mark.parametrize(("body", "field"), [
    ({"events": ["post.created"]}, "url"),
    ({"url": "ftp://example.com/hook", "events": ["post.created"]}, "url"),
    ({"url": "https://example.com/hook"}, "events"),
    ({"url": "https://example.com/hook", "events": []}, "events"),
    ({"url": "https://example.com/hook", "events": ["post.exploded"]}, "events.0"),
    ({"url": "https://example.com/hook", "events": ["post.created"], "colour": "red"}, "colour"),
    ({"url": "https://example.com/hook", "events": ["post.created"], "secret": "hunter2"}, "secret"),
    ({"url": "https://example.com/hook", "events": ["post.created"], "secret": "whsec_c2hvcnQ="}, "secret"),
    ({"url": "https://example.com/hook", "events": ["post.created"], "secret": "whsec_!!!notbase64!!!"}, "secret"),
    ({"url": "http://169.254.169.254/latest/meta-data", "events": ["post.created"]}, "url"),
    ({"url": "http://user:pw@example.com/", "events": ["post.created"]}, "url"),
])
def test_create_errors_name_the_field(client, tenant, body, field):
    assert_error(client.post("/v1/webhooks", headers=tenant.headers, json=body), 400, "validation_error", field)


def test_private_urls_are_refused_unless_allowed(clock, config, tenant):
    strict = start_app(clock, config).test_client()  # HERALD_WEBHOOK_ALLOW_PRIVATE unset
    for url in ("http://127.0.0.1:9/hook", "http://localhost./hook", "http://10.1.2.3/", "http://[::1]/"):
        error = assert_error(strict.post("/v1/webhooks", headers=tenant.headers,
                                         json={"url": url, "events": ["post.created"]}), 400, "validation_error", "url")
        assert "not allowed" in error["message"]


def test_update_delete_and_errors(client, tenant, receiver):
    hook = create_webhook(client, tenant, receiver.url())
    path = f"/v1/webhooks/{hook['id']}"
    changed = client.patch(path, headers=tenant.headers, json={"events": ["publish.failed"], "active": False})
    assert changed.status_code == 200
    assert changed.get_json()["events"] == ["publish.failed"] and changed.get_json()["active"] is False
    assert_error(client.patch(path, headers=tenant.headers, json={}), 400, "validation_error")
    assert_error(client.patch(path, headers=tenant.headers, json={"url": "gopher://x"}), 400, "validation_error", "url")
    assert_error(client.patch(path, headers=tenant.headers, data="x", content_type="text/plain"), 415,
                 "unsupported_media_type")
    assert client.delete(path, headers=tenant.headers).status_code == 204
    assert_error(client.get(path, headers=tenant.headers), 404, "not_found")
    assert_error(client.get("/v1/webhooks/nonsense", headers=tenant.headers), 404, "not_found")


def test_another_workspaces_webhook_is_404_everywhere(client, make_tenant, receiver, redis_client):
    owner, stranger = make_tenant("Owner"), make_tenant("Stranger")
    hook = create_webhook(client, owner, receiver.url())
    create_post(client, owner)
    work(redis_client)
    delivery_id = delivery_log(client, owner)[0]["delivery_id"]
    base = f"/v1/webhooks/{hook['id']}"
    for method, path, body in (("get", base, None), ("patch", base, {"active": False}), ("delete", base, None),
                               ("post", f"{base}/rotate-secret", None), ("post", f"{base}/test", None),
                               ("get", f"{base}/deliveries", None),
                               ("post", f"/v1/webhooks/deliveries/{delivery_id}/redeliver", None)):
        response = getattr(client, method)(path, headers=stranger.headers, json=body)
        assert_error(response, 404, "not_found")
    assert delivery_log(client, stranger) == []
    assert client.get(base, headers=owner.headers).get_json()["active"] is True


def test_webhooks_need_the_webhooks_scope(app, client, tenant):
    with app.app_context(), db.connection_context():
        _, key = create_api_key(tenant.workspace, ["posts:read"], name="reader")
    assert_error(client.get("/v1/webhooks", headers={"X-API-Key": key}), 403, "forbidden")
    assert_error(client.get("/v1/webhooks"), 401, "unauthorized")


def test_a_disabled_plugin_answers_feature_disabled_and_delivers_nothing(client, make_tenant, redis_client, clock):
    off, on = make_tenant("Off"), make_tenant("On")
    with Receiver() as off_receiver, Receiver() as on_receiver:
        create_webhook(client, off, off_receiver.url())
        create_webhook(client, on, on_receiver.url())
        with db.connection_context():
            set_plugin_enabled(off.workspace.id, "webhooks", False, clock.now())
        assert_error(client.get("/v1/webhooks", headers=off.headers), 403, "feature_disabled")
        assert_error(client.post("/v1/webhooks", headers=off.headers,
                                 json={"url": off_receiver.url(), "events": ["post.created"]}), 403, "feature_disabled")
        assert client.get("/v1/webhooks", headers=on.headers).status_code == 200
        create_post(client, off)
        create_post(client, on)
        work(redis_client)
        assert off_receiver.received() == [] and len(on_receiver.received()) == 1


def test_rotation_signs_with_both_secrets_for_a_day(client, tenant, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url())
    rotated = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=tenant.headers)
    assert rotated.status_code == 200
    new_secret = rotated.get_json()["secret"]
    assert new_secret != hook["secret"] and rotated.get_json()["previous_secret_expires_at"]
    create_post(client, tenant)
    work(redis_client)
    assert len(receiver.received()[0].headers["webhook-signature"].split(" ")) == 2
    receiver.verified(hook["secret"])
    receiver.verified(new_secret)
    advance(redis_client, 25 * 3600)
    create_post(client, tenant)
    work(redis_client)
    last = receiver.received()[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 1
    receiver.verified(new_secret)
    with pytest.raises(Exception, match="No matching signature"):
        receiver.verified(hook["secret"])


def test_test_send_delivers_a_signed_test_event(client, tenant, receiver, redis_client):
    hook = create_webhook(client, tenant, receiver.url(), ["publish.failed"])
    response = client.post(f"/v1/webhooks/{hook['id']}/test", headers=tenant.headers)
    assert response.status_code == 202 and response.get_json()["event"] == "webhook.test"
    work(redis_client)
    (payload,) = receiver.verified(hook["secret"])
    assert payload["type"] == "webhook.test" and payload["data"]["webhook_id"] == hook["id"]
    (entry,) = delivery_log(client, tenant, hook["id"])
    assert entry["status_code"] == 200 and entry["success"] is True and entry["trigger"] == "manual"


def test_delivery_log_shows_each_attempt_and_pages(client, tenant, redis_client):
    with Receiver() as receiver:
        receiver.script = [dataclasses.replace(receiver.default, status=500, body=b"boom " * 400)]
        hook = create_webhook(client, tenant, receiver.url())
        for caption in ("a", "b", "c"):
            create_post(client, tenant, caption)
        work(redis_client)
    log = delivery_log(client, tenant, hook["id"])
    assert len(log) == 3
    failed = [entry for entry in log if not entry["success"]]
    assert len(failed) == 1
    entry = failed[0]
    assert entry["status_code"] == 500 and entry["event"] == "post.created" and entry["attempt"] == 1
    assert entry["response"].startswith("boom") and len(entry["response"]) == 1024
    assert entry["next_attempt_at"] and entry["delivery_status"] == "pending" and entry["duration_ms"] >= 0
    first_page = delivery_log(client, tenant, limit=2)
    assert len(first_page) == 2
    page = client.get("/v1/webhooks/deliveries", headers=tenant.headers, query_string={"limit": 2}).get_json()
    rest = delivery_log(client, tenant, cursor=page["next_cursor"])
    assert [e["id"] for e in first_page + rest] == [e["id"] for e in log]
    assert [e["id"] for e in delivery_log(client, tenant, success="false")] == [entry["id"]]
    assert_error(client.get("/v1/webhooks/deliveries", headers=tenant.headers, query_string={"limit": 0}),
                 400, "validation_error", "limit")
    assert_error(client.get("/v1/webhooks/deliveries", headers=tenant.headers, query_string={"cursor": "x"}),
                 400, "validation_error", "cursor")


def test_webhook_routes_are_in_openapi_and_schemas_list_every_event(client):
    document = client.get("/openapi.json").get_json()
    assert "post" in document["paths"]["/v1/webhooks"]
    assert "get" in document["paths"]["/v1/webhooks/{webhook_id}/deliveries"]
    assert document["paths"]["/v1/webhooks"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/webhook_create"}
    names = client.application.extensions["herald"].registry.event_type_names()
    for name in ("webhook_create", "webhook_update"):
        assert document["components"]["schemas"][name]["properties"]["events"]["items"]["enum"] == names
    # The schema files cannot know which plugins a server loads: the runtime fills the enum in.
    assert SchemaStore().schemas["webhook_create"]["properties"]["events"]["items"] == {
        "type": "string", "x-herald-catalogue": "event_types"}


def test_events_accept_exactly_the_catalogued_types(client, tenant, receiver):
    names = client.application.extensions["herald"].registry.event_type_names()
    hook = create_webhook(client, tenant, receiver.url(), events=names)
    assert hook["events"] == names
    for kinds in (["post.created", "catalogue_test.never"], ["webhook.test"]):
        response = client.post("/v1/webhooks", headers=tenant.headers, json={"url": receiver.url(), "events": kinds})
        assert_error(response, 400, "validation_error", f"events.{len(kinds) - 1}")
    response = client.patch(f"/v1/webhooks/{hook['id']}", headers=tenant.headers, json={"events": ["post.nope"]})
    assert_error(response, 400, "validation_error", "events.0")


class Pinging:
    """A plugin that declares an event type of its own."""

    @hookimpl
    def register_event_types(self, register):
        register("catalogue_test.pinged", "The test plugin was pinged.")


@pytest.fixture
def pinging_app(clock, config):
    pm = get_plugin_manager()
    pm.register(Pinging(), name="catalogue_test_pinging")
    try:
        yield start_app(clock, dataclasses.replace(config, webhook_allow_private=True))
    finally:
        pm.unregister(name="catalogue_test_pinging")
        db.obj.close_all()


def test_a_plugins_event_type_can_be_subscribed_to_and_is_delivered(pinging_app, make_tenant, receiver,
                                                                     redis_client):
    client = pinging_app.test_client()
    tenant = make_tenant()
    hook = create_webhook(client, tenant, receiver.url("/pings"), events=("catalogue_test.pinged",))
    assert hook["events"] == ["catalogue_test.pinged"]
    runtime = pinging_app.extensions["herald"]
    with pinging_app.app_context(), db.connection_context():
        with events.collecting() as recorded, write_transaction():
            events.record(tenant.workspace.id, "catalogue_test.pinged", {"n": 1})
        events.dispatch(runtime.pm, recorded)
    work(redis_client)
    [delivery] = receiver.received()
    assert json.loads(delivery.body)["type"] == "catalogue_test.pinged"
    assert json.loads(delivery.body)["data"] == {"n": 1}


def test_payload_bodies_are_compact_json(client, tenant, receiver, redis_client):
    create_webhook(client, tenant, receiver.url())
    create_post(client, tenant)
    work(redis_client)
    body = receiver.received()[0].body.decode()
    assert json.dumps(json.loads(body), separators=(",", ":")) == body
