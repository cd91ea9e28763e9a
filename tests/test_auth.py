"""API keys, scopes, sessions, CSRF and roles."""

import dataclasses
import re

import pytest

from conftest import assert_error
from herald.auth import SESSION_CSRF, Authenticator, create_user, csrf_matches, csrf_value
from herald.clock import SystemClock
from herald.db.models import ApiKey, db
from herald.portal import links as portal
from herald.web.app import create_app


def list_posts(client, tenant, headers):
    return client.post("/api/webhooks", json={"action": "list_posts", "client_id": tenant.client.id}, headers=headers)


def test_key_format_is_prefixed_and_long(tenant):
    assert re.fullmatch(r"hrld_live_[0-9A-Za-z]{43}", tenant.key)


def test_key_accepted_as_x_api_key_and_as_bearer(client, tenant):
    assert list_posts(client, tenant, {"X-API-Key": tenant.key}).status_code == 200
    assert list_posts(client, tenant, {"Authorization": f"Bearer {tenant.key}"}).status_code == 200


def test_missing_key_is_401_with_seed_message(client, tenant):
    error = assert_error(list_posts(client, tenant, {}), 401, "unauthorized")
    assert error["message"] == "API key missing, invalid, or expired."


def test_wrong_key_is_401(client, tenant):
    wrong = tenant.key[:-1] + ("y" if tenant.key.endswith("x") else "x")  # never the key itself
    assert_error(list_posts(client, tenant, {"X-API-Key": wrong}), 401, "unauthorized")
    assert_error(list_posts(client, tenant, {"Authorization": "Basic abc"}), 401, "unauthorized")


def test_database_holds_no_usable_key(config, tenant):
    """Only digests are stored: the key (or any long part of it) is nowhere in the database."""
    row = ApiKey.get()
    assert row.digest != tenant.key and len(row.digest) == 64
    secret_part = tenant.key[len("hrld_live_"):]
    if config.database_url.startswith("sqlite"):
        db.obj.close_all()
        raw = (config.data_dir / "herald.db").read_bytes()
        for path in config.data_dir.glob("herald.db*"):
            raw += path.read_bytes()
        assert secret_part[:20].encode() not in raw
        assert secret_part[-20:].encode() not in raw
    else:
        for model_row in ApiKey.select().dicts():
            assert secret_part[:20] not in str(model_row)


def test_revoked_key_is_401_at_once(client, tenant):
    key_id = ApiKey.get().id
    assert list_posts(client, tenant, tenant.headers).status_code == 200  # cached now
    assert client.delete(f"/api/keys/{key_id}", headers=tenant.headers).status_code == 200
    assert_error(list_posts(client, tenant, tenant.headers), 401, "unauthorized")


def test_missing_scope_is_403_naming_it(client, make_tenant):
    reader = make_tenant(scopes=["posts:read"])
    assert list_posts(client, reader, reader.headers).status_code == 200
    response = client.post("/api/webhooks", headers=reader.headers,
                           json={"action": "create_post", "client_id": reader.client.id, "caption": "x"})
    error = assert_error(response, 403, "forbidden")
    assert "posts:write" in error["message"]


def test_keys_api_creates_key_shown_once(client, tenant):
    created = client.post("/api/keys", json={"name": "zapier", "scopes": ["posts:read"]}, headers=tenant.headers)
    assert created.status_code == 201
    body = created.get_json()
    new_key = body["key"]
    assert body["api_key"]["scopes"] == ["posts:read"]
    listed = client.get("/api/keys", headers=tenant.headers).get_json()["keys"]
    assert all(new_key not in str(row) for row in listed)
    assert any(row["display"].startswith("hrld_live_") for row in listed)
    assert list_posts(client, tenant, {"X-API-Key": new_key}).status_code == 200


def test_keys_api_rejects_unknown_scope(client, tenant):
    response = client.post("/api/keys", json={"scopes": ["everything"]}, headers=tenant.headers)
    assert_error(response, 400, "validation_error", "scopes.0")


# -- sessions --------------------------------------------------------------------------------------


@pytest.fixture
def user(app, tenant):
    with app.app_context():
        return create_user(tenant.workspace, "Ana@Example.com", "correct horse battery", role="editor")


def login(client, email="ana@example.com", password="correct horse battery", **options):
    return client.post("/api/login", json={"email": email, "password": password}, **options)


@pytest.mark.parametrize(("base_url", "peer", "secure"), [
    ("http://127.0.0.1:5000", "127.0.0.1", False),  # make run, and a script or browser on the same machine
    ("http://localhost:5000", "::1", False),
    ("http://[::1]:5000", "::1", False),
    ("https://127.0.0.1:5000", "127.0.0.1", True),
    ("http://herald.example.com", "127.0.0.1", True),  # a proxy on this host, its https not declared trusted
    ("http://127.0.0.1:5000", "10.0.0.7", True),  # another machine naming a loopback host
    ("http://10.0.0.2:5000", "10.0.0.7", True),
])
def test_the_session_cookie_is_secure_except_on_plain_http_within_this_machine(app, user, base_url, peer, secure):
    secure_app = create_app(dataclasses.replace(app.extensions["herald"].config, insecure_cookies=False))
    response = login(secure_app.test_client(), base_url=base_url, environ_base={"REMOTE_ADDR": peer})
    assert response.status_code == 200
    assert ("Secure" in response.headers["Set-Cookie"].split("; ")) is secure


def test_login_sets_secure_httponly_lax_cookie(app, user):
    secure_app = create_app(dataclasses.replace(app.extensions["herald"].config, insecure_cookies=False))
    response = login(secure_app.test_client(), base_url="https://herald.example.com")
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "herald_session=" in cookie
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    body = response.get_json()
    assert body["user"] == {"id": user.id, "email": "ana@example.com", "role": "editor"}
    assert body["csrf_token"]


def test_wrong_password_is_401(client, user):
    assert_error(login(client, password="nope nope"), 401, "unauthorized")
    assert_error(login(client, email="nobody@example.com"), 401, "unauthorized")


def test_session_gets_need_no_csrf_token_but_posts_do(client, tenant, user):
    csrf = login(client).get_json()["csrf_token"]
    assert client.get("/api/clients").status_code == 200
    payload = {"action": "create_post", "client_id": tenant.client.id, "caption": "from the dashboard"}
    assert_error(client.post("/api/webhooks", json=payload), 403, "forbidden")
    assert_error(client.post("/api/webhooks", json=payload, headers={"X-CSRF-Token": "forged"}), 403, "forbidden")
    ok = client.post("/api/webhooks", json=payload, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert ok.get_json()["post"]["caption"] == "from the dashboard"
    assert client.get("/api/clients").status_code == 200


def test_a_csrf_header_that_is_not_ascii_is_refused_not_a_crash(client, tenant, user):
    login(client)
    response = client.post("/api/clients", json={"name": "x"}, headers={"X-CSRF-Token": "é" * 64})
    assert_error(response, 403, "forbidden")


def test_sessions_and_portal_links_get_csrf_values_from_one_function():
    session_value = Authenticator(5, "secret", SystemClock()).csrf_token("tok")
    link_value = portal.csrf_token("secret", "tok")
    assert session_value == csrf_value("secret", SESSION_CSRF, "tok")
    assert link_value == csrf_value("secret", portal.PORTAL_CSRF, "tok")
    assert len({session_value, link_value, csrf_value("other secret", SESSION_CSRF, "tok"),
                csrf_value("secret", SESSION_CSRF, "tok2")}) == 4  # bound to purpose, token and secret
    assert csrf_matches("secret", SESSION_CSRF, "tok", session_value)
    assert portal.check_csrf("secret", "tok", link_value)
    for sent in (link_value, session_value[:-1], "", "é" * 64):
        assert not csrf_matches("secret", SESSION_CSRF, "tok", sent)
        assert not portal.check_csrf("secret", "tok", sent if sent != link_value else session_value)


def test_cross_site_request_with_cookie_is_refused(client, tenant, user):
    csrf = login(client).get_json()["csrf_token"]
    response = client.post("/api/clients", json={"name": "x"},
                           headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"})
    assert_error(response, 403, "forbidden")


def test_form_post_with_cookie_is_refused(client, tenant, user):
    login(client)
    response = client.post("/api/clients", data={"name": "x"})
    assert response.status_code == 403


def test_logout_ends_session(client, tenant, user):
    csrf = login(client).get_json()["csrf_token"]
    assert client.get("/api/session").status_code == 200
    assert client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert_error(client.get("/api/clients"), 401, "unauthorized")


def test_viewer_role_cannot_write(app, client, tenant):
    with app.app_context():
        create_user(tenant.workspace, "viewer@example.com", "long enough pw", role="viewer")
    csrf = login(client, "viewer@example.com", "long enough pw").get_json()["csrf_token"]
    assert client.get("/api/clients").status_code == 200
    response = client.post("/api/clients", json={"name": "New"}, headers={"X-CSRF-Token": csrf})
    error = assert_error(response, 403, "forbidden")
    assert "viewer" in error["message"]


def test_editor_cannot_manage_keys(client, tenant, user):
    login(client)
    assert_error(client.get("/api/keys"), 403, "forbidden")
