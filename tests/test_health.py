"""GET /health: database and Redis checks, no authentication."""

from __future__ import annotations

from redis_server import RedisServer


def test_health_is_ok_with_database_and_redis(client, redis_client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "media", "queues", "derived"}
    assert body["checks"]["derived"]["missing_triggers"] == []
    assert body["checks"]["media"]["store"] == "local"
    queues = body["checks"]["queues"]
    assert queues["ok"] is True and queues["oldest_due_seconds"] == 0
    assert queues["publish"] == {"depth": 0, "workers": 0} and queues["default"] == {"depth": 0, "workers": 0}
    for name in ("database", "redis", "media", "derived"):
        check = body["checks"][name]
        assert check["ok"] is True, (name, check)
        assert "error" not in check
        assert isinstance(check["latency_ms"], (int, float)) and 0 <= check["latency_ms"] < 5000, check
    assert redis_client.ping()  # the Redis the check asked is the test's real one


def test_health_needs_no_credentials_and_ignores_bad_ones(client):
    assert client.get("/health").status_code == 200
    assert client.get("/health", headers={"X-API-Key": "hrld_live_not-a-key"}).status_code == 200
    assert client.get("/health", headers={"Authorization": "Bearer nonsense"}).status_code == 200


def test_health_carries_a_request_id_and_no_limit_headers(client):
    response = client.get("/health", headers={"X-Request-ID": "probe-1"})
    assert response.headers["X-Request-ID"] == "probe-1"
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"):
        assert header not in response.headers


def test_health_only_answers_get(client):
    response = client.post("/health")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_health_is_503_when_redis_is_down_without_revealing_where_it_is(build_app):
    with RedisServer() as server:
        server.kill()
        client = build_app(redis_url=server.url).test_client()
        response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["latency_ms"] >= 0
    text = response.get_data(as_text=True)
    assert "127.0.0.1" not in text and str(server.port) not in text


def test_health_is_503_when_the_database_is_down(build_app, tmp_path):
    client = build_app(database_url=f"sqlite:///{tmp_path}/no/such/directory/herald.db").test_client()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["redis"]["ok"] is True
