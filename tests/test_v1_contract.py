"""The publishing API document, example by example and error row by error row, against the real
Instagram and Facebook plugins talking to the fake Graph API."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from graph_drive import connect_account, upload_jpeg

from conftest import assert_error
from drive import work
from fakes.graph import IG_TOKEN, PAGE_TOKEN
from herald.auth import create_api_key
from herald.db.models import Account, db, utcnow

NEXT_YEAR = utcnow().year + 1


@pytest.fixture
def app(build_app, fake):
    return build_app(**fake.hosts(), public_url="https://herald.test", rate_limit="5/minute")


@pytest.fixture
def bearer(tenant):
    return {"Authorization": f"Bearer {tenant.key}"}


def test_publish_example_request_and_response(client, tenant, bearer, redis_client):
    account = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    media = upload_jpeg(client, tenant)
    # The document's request, with this workspace's ids (schedule in the future).
    request = {"content": "string", "platforms": ["instagram", "facebook"], "accounts": [account],
               "schedule": f"{NEXT_YEAR}-06-01T09:00:00Z", "media": [f"media_{media}"]}
    response = client.post("/v1/publish", json=request, headers={**bearer, "Idempotency-Key": "seed-1"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"].startswith("post_")
    assert body["status"] == "queued"
    assert body["scheduled_at"] == f"{NEXT_YEAR}-06-01T09:00:00Z"
    assert body["platforms"] == ["instagram", "facebook"]
    assert body["tasks"] == [{**body["tasks"][0], "account_id": account, "platform": "instagram", "status": "queued"}]
    no_facebook, token_expires = body["warnings"]
    assert no_facebook == {
        "code": "no_account_for_platform", "field": "platforms.1",
        "message": "No facebook account is among accounts, so nothing will be published on facebook."}
    # A long-lived Instagram token lasts 60 days: it will have expired by June.
    assert token_expires["code"] == "token_expires_before_due" and token_expires["field"] == "accounts.0"
    assert token_expires["message"].startswith(f"{account} (@")
    assert "before this post is due" in token_expires["message"]


def test_posts_list_and_detail_examples(client, tenant, bearer, redis_client):
    facebook = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    created = client.post("/v1/publish", json={"content": "Hello from Apionics", "accounts": [facebook],
                                               "schedule": "now"}, headers=bearer).get_json()
    work(redis_client)
    listing = client.get("/v1/posts", headers=bearer).get_json()
    assert listing["total"] == 1
    [item] = listing["posts"]
    assert {key: item[key] for key in ("id", "content", "status", "platforms")} == {
        "id": created["id"], "content": "Hello from Apionics", "status": "published", "platforms": ["facebook"]}
    assert item["created_at"].endswith("Z")
    detail = client.get(f"/v1/posts/{created['id']}", headers=bearer).get_json()
    assert (detail["id"], detail["content"], detail["status"]) == (created["id"], "Hello from Apionics", "published")
    [task] = detail["tasks"]
    assert (task["account_id"], task["platform"], task["status"]) == (facebook, "facebook", "published")
    assert task["published_at"].endswith("Z") and task["platform_post_id"] and task["url"]


def test_cancel_example(client, tenant, bearer):
    facebook = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    created = client.post("/v1/publish", json={"content": "Later", "accounts": [facebook],
                                               "schedule": f"{NEXT_YEAR}-01-01T00:00:00Z"}, headers=bearer).get_json()
    response = client.delete(f"/v1/posts/{created['id']}", headers=bearer)
    assert response.status_code == 200 and response.get_json() == {"success": True}


def test_accounts_example(client, tenant, bearer):
    connect_account(client, tenant, "instagram", IG_TOKEN)
    [account] = client.get("/v1/accounts", headers=bearer).get_json()["accounts"]
    assert account["id"].startswith("acc_")
    assert (account["platform"], account["username"], account["status"]) == ("instagram", "herald.test", "active")
    assert account["token_expires_at"].endswith("Z")


# -- the error table -------------------------------------------------------------------------

def test_400_missing_field(client, bearer):
    error = assert_error(client.post("/v1/publish", json={"content": "x", "accounts": []}, headers=bearer),
                         400, "validation_error", "accounts")
    assert error["message"] == "accounts must contain at least one connected account id."


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer apionics_live_nope"}, {"X-API-Key": "hrld_live_x"}])
def test_401_missing_or_invalid_key(client, headers):
    error = assert_error(client.get("/v1/posts", headers=headers), 401, "unauthorized")
    assert error["message"] == "API key missing, invalid, or expired."


def test_403_key_lacks_scope(client, tenant):
    with db.connection_context():
        _, key = create_api_key(tenant.workspace, ("posts:read",))
    error = assert_error(client.post("/v1/publish", json={"content": "x", "accounts": ["acc_1"]},
                                     headers={"Authorization": f"Bearer {key}"}), 403, "forbidden")
    assert "publish" in error["message"]


@pytest.mark.parametrize("path", ["/v1/posts/post_404", "/v1/accounts/acc_404"])
def test_404_not_in_this_workspace(client, bearer, path):
    assert_error(client.get(path, headers=bearer), 404, "not_found")


def test_409_duplicate_request_and_conflicting_state(client, tenant, bearer, redis_client):
    facebook = connect_account(client, tenant, "facebook", PAGE_TOKEN).get_json()["id"]
    first = client.post("/v1/publish", json={"content": "A", "accounts": [facebook]},
                        headers={**bearer, "Idempotency-Key": "dup"})
    assert first.status_code == 201
    error = assert_error(client.post("/v1/publish", json={"content": "B", "accounts": [facebook]},
                                     headers={**bearer, "Idempotency-Key": "dup"}), 409, "idempotency_conflict")
    assert error["message"] == "This Idempotency-Key was already used with a different request body."
    work(redis_client)
    assert_error(client.delete(f"/v1/posts/{first.get_json()['id']}", headers=bearer), 409, "conflict")


def test_429_rate_limited_with_retry_after(client, bearer):
    for _ in range(5):
        assert client.get("/v1/posts", headers=bearer).status_code == 200
    response = client.get("/v1/posts", headers=bearer)
    error = assert_error(response, 429, "rate_limited")
    seconds = int(response.headers["Retry-After"])
    assert error["message"] == f"Too many requests. Retry after {seconds} seconds."


def assert_connect_unavailable(response, platform: str = "instagram") -> str:
    """Connecting answered 503 ``platform_unavailable``: retry later, no account stored; the message."""
    error = assert_error(response, 503, "platform_unavailable")
    wait = int(response.headers["Retry-After"])
    assert wait >= 1
    message = error["message"]
    assert message.startswith(f"{platform} cannot be reached right now, so the account was not connected ("), message
    assert message.endswith(f"Retry in {wait} seconds (with the same Idempotency-Key, if you sent one)."), message
    assert "Herald will try again" not in message  # connecting is not a job: nobody else retries
    with db.connection_context():
        assert Account.select().count() == 0
    return message


def test_503_when_meta_answers_a_transient_error_and_the_retry_connects(client, tenant, fake):
    fake.fail_next(r"/debug_token$|/me$", code=2, message="Service temporarily unavailable", times=4)
    headers = {**tenant.headers, "Idempotency-Key": "connect-1"}
    response = client.post("/v1/accounts", json={"platform": "instagram", "access_token": IG_TOKEN}, headers=headers)
    message = assert_connect_unavailable(response)
    assert "Service temporarily unavailable (Graph API error 2)" in message
    fake.clear_faults()
    retried = client.post("/v1/accounts", json={"platform": "instagram", "access_token": IG_TOKEN}, headers=headers)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


def test_503_when_meta_answers_http_500_without_a_graph_error(client, tenant, fake):
    fake.fail_next(r"/debug_token$|/me$", code=1, status=500, times=None)
    assert_connect_unavailable(connect_account(client, tenant, "facebook", PAGE_TOKEN), "facebook")


def test_503_when_meta_drops_the_connection(client, tenant, fake):
    fake.drop_connection_before(r"/debug_token$|/me$", times=None)
    assert_connect_unavailable(connect_account(client, tenant, "facebook", PAGE_TOKEN), "facebook")


def test_503_when_meta_does_not_answer_in_time(client, tenant, fake, monkeypatch):
    from herald_graph import graph

    monkeypatch.setattr(graph, "TIMEOUT", 0.3)
    fake.delay_next(r"/debug_token$|/me$", 2, times=None)
    message = assert_connect_unavailable(connect_account(client, tenant, "instagram", IG_TOKEN))
    assert "timed out" in message


def test_503_when_the_graph_server_is_stopped(client, tenant, fake):
    fake.stop()
    message = assert_connect_unavailable(connect_account(client, tenant, "instagram", IG_TOKEN))
    assert "Could not reach" in message


def test_503_when_nothing_listens_on_the_graph_port(build_app, make_tenant):
    with socket.socket() as sock:  # a loopback port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = build_app(graph_base_url=closed, instagram_base_url=closed)
    message = assert_connect_unavailable(connect_account(app.test_client(), make_tenant(), "facebook", PAGE_TOKEN),
                                         "facebook")
    assert "Connection refused" in message


def test_instagram_without_media_is_refused_before_anything_is_queued(client, tenant, bearer):
    account = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    error = assert_error(client.post("/v1/publish", json={"content": "Text only", "accounts": [account]},
                                     headers=bearer), 400, "validation_error", "media")
    assert "Instagram needs an image or a video" in error["message"]


def test_media_without_a_public_url_fails_fast_saying_what_to_set(app, client, tenant, bearer, config):
    account = connect_account(client, tenant, "instagram", IG_TOKEN).get_json()["id"]
    media = upload_jpeg(client, tenant)
    app.extensions["herald"].config = dataclasses.replace(app.extensions["herald"].config, public_url=None)
    error = assert_error(client.post("/v1/publish", json={"content": "Pic", "accounts": [account],
                                                          "media": [media]}, headers=bearer),
                         400, "validation_error", "media")
    assert "HERALD_PUBLIC_URL" in error["message"]
