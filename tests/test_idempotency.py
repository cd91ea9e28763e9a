"""Idempotency-Key on mutating requests: replay, conflicts, scoping, concurrency."""

from __future__ import annotations

import http.client
import json
import threading

import pytest
from werkzeug.serving import make_server

from conftest import assert_error, start_app
from herald.db.models import IdempotencyRecord, Post, PublishTask, db
from scripted_platform import ScriptedPlugin


@pytest.fixture
def app(clock, config, register_plugin):
    register_plugin(ScriptedPlugin(), "scripted")
    application = start_app(clock, config)
    yield application
    db.obj.close_all()


@pytest.fixture
def account(client, tenant):
    response = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_1234"},
                           headers=tenant.headers)
    return response.get_json()["id"]


def post(client, tenant, body, key):
    return client.post("/v1/publish", json=body, headers={**tenant.headers, "Idempotency-Key": key})


def count(model) -> int:
    with db.connection_context():
        return model.select().count()


def test_same_key_and_body_replays_the_first_response(client, tenant, account, redis_client):
    body = {"content": "Launch day", "accounts": [account]}
    first = post(client, tenant, body, "key-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    redis_client.flushdb()  # stored in the database: a Redis restart forgets nothing
    again = post(client, tenant, {"accounts": [account], "content": "Launch day"}, "key-1")  # key order differs
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert count(Post) == 1 and count(PublishTask) == 1


def test_same_key_with_another_body_is_idempotency_conflict(client, tenant, account):
    post(client, tenant, {"content": "One", "accounts": [account]}, "key-2")
    error = assert_error(post(client, tenant, {"content": "Two", "accounts": [account]}, "key-2"),
                         409, "idempotency_conflict")
    assert error["message"] == "This Idempotency-Key was already used with a different request body."
    other_endpoint = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_9876"},
                                 headers={**tenant.headers, "Idempotency-Key": "key-2"})
    assert_error(other_endpoint, 409, "idempotency_conflict")
    assert count(Post) == 1


def test_keys_are_scoped_per_workspace(client, tenant, make_tenant, account):
    other = make_tenant("Other agency")
    other_account = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_5555"},
                                headers=other.headers).get_json()["id"]
    assert post(client, tenant, {"content": "A", "accounts": [account]}, "shared").status_code == 201
    response = post(client, other, {"content": "B", "accounts": [other_account]}, "shared")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert count(Post) == 2


def test_a_refusal_is_not_stored_so_the_same_request_goes_through_once_the_account_is_connected(
        client, tenant, account):
    """The demo's publish example run before its account is connected: the 404 (here a 400 for a
    disconnected account) is not kept for 24 hours, so after connecting, the same request publishes."""
    assert client.delete(f"/v1/accounts/{account}", headers=tenant.headers).status_code == 200
    body = {"content": "Launch day", "accounts": [account]}
    assert_error(post(client, tenant, body, "demo-1"), 400, "validation_error", "accounts.0")
    assert count(IdempotencyRecord) == 0
    again = client.post("/v1/accounts", json={"platform": "scripted", "access_token": "tok_live_1234"},
                        headers=tenant.headers).get_json()
    assert again["id"] == account and again["status"] == "active"
    published = post(client, tenant, body, "demo-1")
    assert published.status_code == 201, published.get_json()
    assert "Idempotent-Replayed" not in published.headers
    replayed = post(client, tenant, body, "demo-1")  # what acted is stored and replayed
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.get_json() == published.get_json()
    assert count(Post) == 1


def test_the_corrected_request_with_the_same_key_goes_through_after_a_404(client, tenant, account):
    missing = post(client, tenant, {"content": "A", "accounts": ["acc_999"]}, "key-404")
    assert_error(missing, 404, "not_found", "accounts.0")
    again = post(client, tenant, {"content": "A", "accounts": ["acc_999"]}, "key-404")
    assert_error(again, 404, "not_found", "accounts.0")
    assert "Idempotent-Replayed" not in again.headers  # looked up again, not replayed
    fixed = post(client, tenant, {"content": "A", "accounts": [account]}, "key-404")
    assert fixed.status_code == 201, fixed.get_json()
    assert count(Post) == 1


def test_server_errors_are_not_stored(client, tenant, account, monkeypatch):
    from herald.publishing import publish as publishing

    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(publishing, "publish", explode)
    assert_error(post(client, tenant, {"content": "B", "accounts": [account]}, "key-500"), 500, "internal_error")
    monkeypatch.undo()
    retried = post(client, tenant, {"content": "B", "accounts": [account]}, "key-500")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


def test_a_retry_while_the_first_request_runs_is_409_with_retry_after(app, client, tenant, account, monkeypatch):
    from herald.publishing import publish as publishing

    original, running, finish = publishing.publish, threading.Event(), threading.Event()

    def slow_publish(*args, **kwargs):
        running.set()
        finish.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(publishing, "publish", slow_publish)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
    body = {"content": "C", "accounts": [account]}
    connection.request("POST", "/v1/publish", body=json.dumps(body), headers={
        "Content-Type": "application/json", "X-API-Key": tenant.key, "Idempotency-Key": "key-busy"})
    try:
        assert running.wait(10)
        retry = post(client, tenant, body, "key-busy")
    finally:
        finish.set()
        first = connection.getresponse()
        first.read()
        server.shutdown()
    assert first.status == 201
    error = assert_error(retry, 409, "conflict", "Idempotency-Key")
    assert retry.headers["Retry-After"] == "1"
    assert "still being processed. Retry in 1 second" in error["message"]


@pytest.mark.parametrize("key, field", [("x" * 256, "Idempotency-Key"), ("", "Idempotency-Key"),
                                        ("caf\u00e9", "Idempotency-Key")])
def test_malformed_keys_are_400(client, tenant, account, key, field):
    response = client.post("/v1/publish", json={"content": "A", "accounts": [account]},
                           headers={**tenant.headers, "Idempotency-Key": key.encode().decode("latin-1")})
    assert_error(response, 400, "validation_error", field)


def test_a_key_of_255_characters_works(client, tenant, account):
    assert post(client, tenant, {"content": "A", "accounts": [account]}, "k" * 255).status_code == 201


def test_the_action_endpoint_honours_keys_too(client, tenant):
    body = {"action": "create_post", "client_id": tenant.client.id, "caption": "Once", "platforms": "scripted"}
    headers = {**tenant.headers, "Idempotency-Key": "zap-row-17"}
    first = client.post("/api/webhooks", json=body, headers=headers)
    second = client.post("/api/webhooks", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert count(Post) == 1


def test_fifty_concurrent_requests_with_one_key_create_one_post(app, tenant, account):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    body = json.dumps({"content": "Concurrent", "accounts": [account]})
    results: list[tuple[int, dict, str | None, str | None]] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def send():
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
        start.wait()
        connection.request("POST", "/v1/publish", body=body, headers={
            "Content-Type": "application/json", "X-API-Key": tenant.key, "Idempotency-Key": "burst"})
        response = connection.getresponse()
        payload = json.loads(response.read())
        with lock:
            results.append((response.status, payload, response.getheader("Idempotent-Replayed"),
                            response.getheader("Retry-After")))
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(50)]
    for worker in threads:
        worker.start()
    for worker in threads:
        worker.join()
    server.shutdown()

    assert count(Post) == 1 and count(PublishTask) == 1 and count(IdempotencyRecord) == 1
    statuses = sorted(status for status, _, _, _ in results)
    assert set(statuses) <= {201, 409}
    fresh = [payload for status, payload, replayed, _ in results if status == 201 and replayed is None]
    assert len(fresh) == 1
    for status, payload, _, _ in results:
        if status == 201:
            assert payload == fresh[0]
        else:
            assert payload["error"]["code"] == "conflict"
    assert all(retry_after == "1" for status, _, _, retry_after in results if status == 409)
