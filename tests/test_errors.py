"""Every error a client can cause is the one envelope with the right status; never HTML, never a 500
for bad input."""

import pytest

from conftest import assert_error
from herald import Action, hookimpl
from herald.app import create_app
from herald.plugins import get_plugin_manager


def test_malformed_json_is_400(client, tenant):
    response = client.post("/api/webhooks", data=b'{"action": "create_post",', headers=tenant.headers,
                           content_type="application/json")
    error = assert_error(response, 400, "validation_error")
    assert "JSON" in error["message"]


def test_json_that_is_not_an_object_is_400(client, tenant):
    response = client.post("/api/webhooks", json=[1, 2], headers=tenant.headers)
    assert_error(response, 400, "validation_error")


def test_wrong_content_type_is_415(client, tenant):
    response = client.post("/api/webhooks", data="action=create_post", headers=tenant.headers,
                           content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_unknown_route_is_404_envelope(client):
    response = client.get("/api/nothing-here")
    assert_error(response, 404, "not_found")
    assert b"<html" not in response.data.lower()


def test_wrong_method_is_405_envelope_with_allow(client):
    response = client.delete("/api/webhooks")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_body_too_large_is_413(client, tenant):
    big = b'{"action": "create_post", "caption": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = client.post("/api/webhooks", data=big, headers=tenant.headers, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_unauthenticated_comes_before_validation(client):
    assert_error(client.post("/api/webhooks", data=b"{", content_type="application/json"), 401, "unauthorized")


class Exploding:
    @hookimpl
    def register_actions(self, register):
        def handler(ctx, payload):
            raise RuntimeError("database on fire")

        register(Action("explode", handler, {"type": "object"}, scope="posts:read"))


@pytest.fixture
def exploding_app(config):
    pm = get_plugin_manager()
    pm.register(Exploding(), name="exploding")
    try:
        yield create_app(config)
    finally:
        pm.unregister(name="exploding")


def test_unexpected_exception_is_500_with_request_id(exploding_app, tenant, caplog):
    response = exploding_app.test_client().post("/api/webhooks", json={"action": "explode"}, headers=tenant.headers)
    error = assert_error(response, 500, "internal_error")
    request_id = response.headers["X-Request-ID"]
    assert request_id in error["message"]
    assert "database on fire" not in error["message"]
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_request_id_is_echoed_when_sent(client):
    assert client.get("/health", headers={"X-Request-ID": "abc123"}).headers["X-Request-ID"] == "abc123"
