"""Rate limits: per API key on the API, per address on login and on failed authentication, /health exempt,
headers on every limited response, the per-process fallback when Redis goes away, and client addresses
behind trusted reverse proxies."""

from __future__ import annotations

import time
import types

import limits.storage.memory
import pytest
import redis
from flask import request
from portal_support import make_link
from redis_server import RedisServer

from conftest import assert_error
from herald.auth import SESSION_COOKIE, create_user, generate_key
from herald.config import DEFAULT_AUTH_FAILURE_LIMIT, DEFAULT_RATE_LIMIT, Config
from herald.db.models import db


@pytest.fixture
def redis_server():
    """A private redis-server the test may kill."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def mid_minute_clock(monkeypatch):
    """Put the in-memory fallback's clock in the middle of a minute for the test.

    Its sliding windows are aligned to the clock (unlike Redis's, which start at the first hit); a test
    running across a minute boundary would see the previous minute's hits weighted down and get one
    request more. Shifting its clock by under a minute leaves 30 s before the next boundary.
    """
    real_time = time.time
    offset = 30 - real_time() % 60
    monkeypatch.setattr(limits.storage.memory, "time", types.SimpleNamespace(time=lambda: real_time() + offset))


def list_posts(client, tenant):
    return client.post("/api/webhooks", json={"action": "list_posts", "client_id": tenant.client.id},
                       headers=tenant.headers)


def login(client, email="nobody@example.com", password="wrong password", address="127.0.0.1", headers=None):
    return client.post("/api/login", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


def with_random_key(client, address="127.0.0.1"):
    """A request presenting a well-formed API key that was never issued (a new one each call)."""
    return client.get("/api/plan", headers={"X-API-Key": generate_key()}, environ_base={"REMOTE_ADDR": address})


def assert_limit_headers(response, limit: int, remaining: int | None = None):
    """The X-RateLimit-* headers are there and consistent; no Retry-After outside 429/503."""
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    if remaining is not None:
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
    reset = int(response.headers["X-RateLimit-Reset"])  # UTC epoch seconds
    assert time.time() - 1 <= reset <= time.time() + 61
    if response.status_code not in (429, 503):
        assert "Retry-After" not in response.headers


def assert_rate_limited(response, limit: int) -> int:
    """A 429 ``rate_limited`` envelope with Retry-After (seconds, named in the message) and limit headers."""
    error = assert_error(response, 429, "rate_limited", None)
    wait = response.headers["Retry-After"]
    assert wait.isdigit(), wait
    wait = int(wait)
    assert 0 < wait <= 60
    assert f"{wait} seconds" in error["message"]
    assert_limit_headers(response, limit, remaining=0)
    assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time()) + wait - 1
    return wait


def test_sixth_request_with_the_same_key_is_429(build_app, make_tenant):
    client = build_app(rate_limit="5/minute").test_client()
    first, second = make_tenant(), make_tenant()
    for remaining in (4, 3, 2, 1, 0):
        response = list_posts(client, first)
        assert response.status_code == 200, response.get_json()
        assert_limit_headers(response, 5, remaining)
    assert_rate_limited(list_posts(client, first), 5)
    assert_rate_limited(list_posts(client, first), 5)  # still limited, not a one-off

    other = list_posts(client, second)  # another workspace's key has its own budget
    assert other.status_code == 200
    assert_limit_headers(other, 5, remaining=4)


def test_bearer_and_x_api_key_share_one_budget(build_app, tenant):
    client = build_app(rate_limit="2/minute").test_client()
    payload = {"action": "list_posts", "client_id": tenant.client.id}
    assert client.post("/api/webhooks", json=payload, headers={"X-API-Key": tenant.key}).status_code == 200
    assert client.post("/api/webhooks", json=payload,
                       headers={"Authorization": f"Bearer {tenant.key}"}).status_code == 200
    assert_rate_limited(client.post("/api/webhooks", json=payload, headers={"X-API-Key": tenant.key}), 2)


def test_one_budget_per_key_across_the_whole_api(build_app, make_tenant):
    """The limit counts a key's requests to every endpoint together, not each route apart."""
    client = build_app(rate_limit="3/minute").test_client()
    first, second = make_tenant(), make_tenant()
    assert_limit_headers(client.get("/api/plan", headers=first.headers), 3, remaining=2)
    assert_limit_headers(client.get("/api/clients", headers=first.headers), 3, remaining=1)
    assert_limit_headers(client.get("/v1/posts", headers=first.headers), 3, remaining=0)
    assert_rate_limited(list_posts(client, first), 3)
    assert_rate_limited(client.get("/api/plan", headers=first.headers), 3)
    # Another key has its own budget.
    assert_limit_headers(list_posts(client, second), 3, remaining=2)


def test_default_limit_is_200_per_minute(client, tenant):
    assert DEFAULT_RATE_LIMIT == Config().rate_limit == "200/minute"
    response = list_posts(client, tenant)
    assert response.status_code == 200
    assert_limit_headers(response, 200, remaining=199)


def test_error_responses_count_and_carry_limit_headers(build_app, tenant):
    client = build_app(rate_limit="2/minute").test_client()
    bad = client.post("/api/webhooks", json={"action": "nope"}, headers=tenant.headers)
    assert_error(bad, 400, "validation_error", "action")
    assert_limit_headers(bad, 2, remaining=1)
    assert list_posts(client, tenant).status_code == 200
    assert_rate_limited(list_posts(client, tenant), 2)


def test_login_is_limited_per_address_even_with_wrong_credentials(build_app, app, tenant):
    with app.app_context(), db.connection_context():
        create_user(tenant.workspace, "owner@example.com", "correct horse battery", role="owner")
    client = build_app(login_rate_limit="3/minute").test_client()
    for remaining in (2, 1, 0):
        response = login(client)
        assert_error(response, 401, "unauthorized")
        assert_limit_headers(response, 3, remaining)
    assert_rate_limited(login(client), 3)
    # The right password does not get past the limit either: guessing stops here.
    assert_rate_limited(login(client, "owner@example.com", "correct horse battery"), 3)
    # Another address still has its budget.
    ok = login(client, "owner@example.com", "correct horse battery", address="198.51.100.7")
    assert ok.status_code == 200, ok.get_json()


def test_health_is_exempt(build_app, tenant):
    client = build_app(rate_limit="2/minute").test_client()
    for _ in range(5):
        response = client.get("/health", headers=tenant.headers)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
        assert "Retry-After" not in response.headers
    # Nothing was counted against the key.
    assert_limit_headers(list_posts(client, tenant), 2, remaining=1)


def test_signed_media_links_and_static_files_are_not_limited(build_app, tenant, config):
    """Platforms fetch a bulk publish's media, and portal pages load previews, from one address."""
    from graph_drive import upload_jpeg

    from herald.db.models import Media
    from herald.media.public_links import public_url

    client = build_app(rate_limit="2/minute").test_client()
    media_id = upload_jpeg(client, tenant)  # one of the key's 2
    with db.connection_context():
        link = public_url(Config(public_url="https://herald.test"), config.secret_key, Media.get_by_id(media_id))
    for path in [link.removeprefix("https://herald.test"), "/static/portal.css"] * 3:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "X-RateLimit-Limit" not in response.headers
    assert_limit_headers(list_posts(client, tenant), 2, remaining=0)  # only the API calls counted


def test_limits_are_kept_in_redis(build_app, tenant, redis_server):
    client = build_app(redis_url=redis_server.url, rate_limit="5/minute").test_client()
    assert list_posts(client, tenant).status_code == 200
    keys = redis.Redis.from_url(redis_server.url).keys("*herald-limits*")
    assert keys, "no rate-limit counters in Redis"
    # A second process (another app on the same Redis) sees the same budget.
    other_process = build_app(redis_url=redis_server.url, rate_limit="5/minute").test_client()
    assert_limit_headers(list_posts(other_process, tenant), 5, remaining=3)


def test_processes_sharing_a_key_count_every_request_in_redis(build_app, tenant):
    """Two processes (two apps on one Redis) answering one key in turn: each answer's headers count the
    other process's requests too, exactly, and the limit refuses the first request over it."""
    processes = [build_app(rate_limit="40/minute").test_client() for _ in range(2)]
    for number in range(40):
        response = list_posts(processes[number % 2] if number < 20 else processes[0], tenant)
        assert response.status_code == 200, (number, response.get_json())
        assert_limit_headers(response, 40, remaining=39 - number)
    assert_rate_limited(list_posts(processes[1], tenant), 40)


def test_redis_dying_keeps_the_api_serving_with_per_process_limits(build_app, tenant, redis_server, mid_minute_clock):
    app = build_app(redis_url=redis_server.url, rate_limit="5/minute")
    client = app.test_client()
    assert_limit_headers(list_posts(client, tenant), 5, remaining=4)
    assert client.get("/health").status_code == 200

    redis_server.kill()
    assert not redis_server.ping()
    started = time.monotonic()
    responses = [list_posts(client, tenant) for _ in range(6)]
    # The per-process counter starts afresh when the fallback takes over, and still limits.
    assert [r.status_code for r in responses] == [200] * 5 + [429], [r.get_json() for r in responses]
    for remaining, response in zip((4, 3, 2, 1, 0), responses, strict=False):
        assert_limit_headers(response, 5, remaining)
    assert_rate_limited(responses[-1], 5)

    health = client.get("/health")
    assert health.status_code == 503
    body = health.get_json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert time.monotonic() - started < 5  # nothing waited on the dead server


def test_redis_down_from_the_start(build_app, make_tenant, redis_server, mid_minute_clock):
    redis_server.kill()  # the port is now closed: nothing answers there
    started = time.monotonic()
    app = build_app(redis_url=redis_server.url, rate_limit="3/minute", login_rate_limit="2/minute")
    client, tenant = app.test_client(), make_tenant()
    assert [list_posts(client, tenant).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [login(client).status_code for _ in range(3)] == [401, 401, 429]
    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["checks"]["redis"]["ok"] is False
    assert health.get_json()["checks"]["database"]["ok"] is True
    assert time.monotonic() - started < 5


def test_portal_links_stay_limited_per_process_without_redis(build_app, tenant, redis_server, mid_minute_clock):
    redis_server.kill()
    client = build_app(redis_url=redis_server.url, portal_rate_limit="2/minute").test_client()
    _, path = make_link(client, tenant, "view")
    _, other = make_link(client, tenant, "view")
    responses = [client.get(path) for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 429]
    assert responses[-1].mimetype == "text/html" and 0 < int(responses[-1].headers["Retry-After"]) <= 60
    assert client.get(other).status_code == 200


# -- failed authentication per address -------------------------------------------------------------


def test_default_auth_failure_limit_is_30_per_minute():
    assert DEFAULT_AUTH_FAILURE_LIMIT == Config().auth_failure_limit == "30/minute"
    assert Config.from_env({"HERALD_AUTH_FAILURE_LIMIT": "5/second"}).auth_failure_limit == "5/second"


def test_rotating_invalid_keys_are_limited_per_address(build_app, tenant):
    client = build_app(auth_failure_limit="3/minute").test_client()
    for _ in range(3):
        assert_error(with_random_key(client), 401, "unauthorized")
    assert_rate_limited(with_random_key(client), 3)
    assert_rate_limited(with_random_key(client), 3)  # a fresh key does not help
    # Nor do no credentials, or a made-up session cookie.
    assert_rate_limited(client.get("/api/plan"), 3)
    client.set_cookie(SESSION_COOKIE, "made-up-session")
    assert_rate_limited(client.get("/api/plan"), 3)
    client.delete_cookie(SESSION_COOKIE)

    # A valid key from the same address keeps working, on its own per-key budget.
    valid = list_posts(client, tenant)
    assert valid.status_code == 200, valid.get_json()
    assert_limit_headers(valid, 200, remaining=199)
    # Another address has its own failure budget.
    assert_error(with_random_key(client, address="198.51.100.7"), 401, "unauthorized")


def test_only_failed_credentials_count_as_auth_failures(build_app, app, make_tenant):
    with app.app_context(), db.connection_context():
        reader = make_tenant(scopes=("posts:read",))
        create_user(reader.workspace, "owner@example.com", "correct horse battery", role="owner")
    client = build_app(auth_failure_limit="2/minute").test_client()
    for _ in range(3):
        assert_error(login(client), 401, "unauthorized")  # wrong password: the login limit's business
        # A valid key asking for a session's details, or for a scope it lacks.
        assert_error(client.get("/api/session", headers=reader.headers), 401, "unauthorized")
        assert_error(client.post("/api/webhooks", json={"action": "create_post", "client_id": reader.client.id,
                                                        "caption": "x", "platforms": "instagram"},
                                 headers=reader.headers), 403, "forbidden")
    assert_error(with_random_key(client), 401, "unauthorized")  # the budget is untouched


def test_auth_failures_are_counted_in_redis_across_processes(build_app, redis_server):
    first = build_app(redis_url=redis_server.url, auth_failure_limit="3/minute").test_client()
    second = build_app(redis_url=redis_server.url, auth_failure_limit="3/minute").test_client()
    assert [with_random_key(client).status_code for client in (first, second, first)] == [401] * 3
    assert redis.Redis.from_url(redis_server.url).keys("*auth-failures*"), "no failure counter in Redis"
    assert_rate_limited(with_random_key(second), 3)


def test_auth_failures_are_limited_per_process_without_redis(build_app, tenant, redis_server, mid_minute_clock):
    redis_server.kill()
    started = time.monotonic()
    client = build_app(redis_url=redis_server.url, auth_failure_limit="2/minute").test_client()
    assert [with_random_key(client).status_code for _ in range(3)] == [401, 401, 429]
    assert_rate_limited(with_random_key(client), 2)
    assert list_posts(client, tenant).status_code == 200
    assert time.monotonic() - started < 5


# -- reverse proxies -------------------------------------------------------------------------------

PROXY = "10.0.0.2"  # the address every request arrives from when a reverse proxy is in front


def behind_proxy(forwarded_for: str) -> dict[str, str]:
    return {"X-Forwarded-For": forwarded_for}


def test_trusted_proxies_setting():
    assert Config().trusted_proxies == 0
    assert Config.from_env({"HERALD_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    for wrong in ("-1", "one", "1.5"):
        with pytest.raises(ValueError, match="HERALD_TRUSTED_PROXIES"):
            Config.from_env({"HERALD_TRUSTED_PROXIES": wrong})


def test_behind_a_trusted_proxy_each_client_has_its_own_login_limit(build_app):
    client = build_app(trusted_proxies=1, login_rate_limit="2/minute").test_client()
    for _ in range(2):
        assert_error(login(client, address=PROXY, headers=behind_proxy("203.0.113.1")), 401, "unauthorized")
    assert_rate_limited(login(client, address=PROXY, headers=behind_proxy("203.0.113.1")), 2)
    # The proxy appends the address it saw; a value the client sent itself comes before it and is ignored.
    assert_rate_limited(login(client, address=PROXY, headers=behind_proxy("192.0.2.99, 203.0.113.1")), 2)
    other = login(client, address=PROXY, headers=behind_proxy("203.0.113.2"))
    assert_error(other, 401, "unauthorized")
    assert_limit_headers(other, 2, remaining=1)


def test_without_trusted_proxies_x_forwarded_for_is_ignored(build_app):
    client = build_app(login_rate_limit="2/minute").test_client()
    statuses = [login(client, address=PROXY, headers=behind_proxy(f"203.0.113.{n}")).status_code for n in range(4)]
    assert statuses == [401, 401, 429, 429]  # a spoofed header does not escape the limit


def test_behind_a_trusted_proxy_auth_failures_count_per_client(build_app):
    client = build_app(trusted_proxies=1, auth_failure_limit="1/minute").test_client()

    def random_key_from(address):
        return client.get("/api/plan", headers={"X-API-Key": generate_key(), **behind_proxy(address)},
                          environ_base={"REMOTE_ADDR": PROXY})

    assert_error(random_key_from("203.0.113.1"), 401, "unauthorized")
    assert_rate_limited(random_key_from("203.0.113.1"), 1)
    assert_error(random_key_from("203.0.113.2"), 401, "unauthorized")


def test_trusted_proxy_supplies_client_address_scheme_and_host(build_app):
    def seen(app):
        app.add_url_rule("/probe", "probe", lambda: {"address": request.remote_addr, "scheme": request.scheme,
                                                     "host": request.host})
        return app.test_client().get("/probe", environ_base={"REMOTE_ADDR": PROXY}, headers={
            "X-Forwarded-For": "203.0.113.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "herald.example"})

    assert seen(build_app(trusted_proxies=1)).get_json() == {
        "address": "203.0.113.1", "scheme": "https", "host": "herald.example"}
    assert seen(build_app()).get_json() == {"address": PROXY, "scheme": "http", "host": "localhost"}
