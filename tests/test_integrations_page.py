"""The Integrations page (``/app/integrations``) with Flask's test client: login, what the page shows,
each form (the service the JSON API calls), roles, CSRF and cross-site refusals, the one-time secret,
and another workspace's ids answering 404. The browser test is tests/test_integrations_browser.py."""

from __future__ import annotations

import re

import pytest
from app_support import login, make_user
from portal_support import connect
from webhooks_drive import create_webhook, work

from herald.db.models import ApiKey, db, plugin_enabled

PAGE = "/app/integrations"


@pytest.fixture
def app(build_app, plugin):
    """The application with the scripted platform, delivering webhooks to loopback receivers."""
    return build_app(webhook_allow_private=True)


@pytest.fixture
def admin(app, client, tenant):
    """The test client logged in as an admin of the tenant's workspace; the page's CSRF value."""
    return login(client, make_user(app, tenant, "admin"))


def text_of(response) -> str:
    return response.get_data(as_text=True)


def notice_of(client, response) -> str:
    """Follow a form's 303 and return the page's notice."""
    assert response.status_code == 303, (response.status_code, text_of(response)[:500])
    assert response.headers["Location"].startswith(PAGE + "?notice=")
    page = text_of(client.get(response.headers["Location"]))
    found = re.search(r'<p class="flash flash-ok" role="status" id="notice">([^<]*)</p>', page)
    return found.group(1) if found else ""


def test_the_page_needs_a_login_and_the_login_form_signs_in(app, client, tenant):
    response = client.get(PAGE)  # the login form, which comes back here
    assert response.status_code == 401 and 'action="/app/login"' in text_of(response)
    login_page = client.get("/app/login")
    assert login_page.status_code == 200 and 'name="password"' in text_of(login_page)
    email = make_user(app, tenant, "owner")
    wrong = client.post("/app/login", data={"email": email, "password": "wrong password"})
    assert wrong.status_code == 401 and "incorrect" in text_of(wrong)
    csrf = login(client, email)
    page = client.get(PAGE)
    assert page.status_code == 200 and tenant.workspace.name in text_of(page)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in text_of(page)  # the one script is a file of this server's
    assert client.post("/app/logout", data={"csrf": "0" * 64}).status_code == 403
    assert client.get(PAGE).status_code == 200
    logout = client.post("/app/logout", data={"csrf": csrf})
    assert logout.status_code == 303 and logout.headers["Location"].endswith("/app/login")
    assert client.get(PAGE).status_code == 401
    assert client.post("/app/logout", data={"csrf": csrf}).status_code == 303  # no session: nothing to end


def test_the_page_shows_actions_keys_accounts_plugins_settings_plan_and_error_codes(client, tenant, admin):
    connect(client, tenant)
    html = text_of(client.get(PAGE))
    assert "http://localhost/api/webhooks" in html
    assert 'id="example-create_post"' in html and "&#34;action&#34;: &#34;create_post&#34;" in html
    assert 'data-key="1"' in html and "hrld_live_" in html  # the tenant's key, as its display form
    assert 'data-account="acc_1"' in html and ">scripted<" in html
    assert 'data-plugin="webhooks"' in html
    assert "gemini_api_key" in html and "not set" in html
    assert "data-plan>free<" in html
    assert "<code>validation_error</code>" in html and "<code>not_found</code>" in html
    assert 'id="webhooks"' in html  # the plugin's section


def test_create_a_key_shows_it_once_and_revoke_it(client, tenant, admin):
    response = client.post(f"{PAGE}/keys", data={"csrf": admin, "name": "Zapier", "scopes": ["posts:read", "publish"]})
    assert "not shown again" in notice_of(client, response)
    assert "hrld_live_" not in response.headers["Location"]
    with db.connection_context():
        row = ApiKey.get(ApiKey.name == "Zapier")
    assert row.scopes == ["posts:read", "publish"]
    # notice_of read the page once: the key was shown there and is gone now.
    assert 'id="secret-value"' not in text_of(client.get(PAGE))
    response = client.post(f"{PAGE}/keys", data={"csrf": admin, "name": "Make", "scopes": ["posts:read"]})
    page = text_of(client.get(response.headers["Location"]))
    key = re.search(r'id="secret-value" type="text" readonly value="(hrld_live_[0-9A-Za-z]{43})"', page).group(1)
    assert client.get("/v1/accounts", headers={"X-API-Key": key}).status_code == 200
    with db.connection_context():
        made = ApiKey.get(ApiKey.name == "Make")
    revoked = client.post(f"{PAGE}/keys/{made.id}/revoke", data={"csrf": admin})
    assert "revoked" in notice_of(client, revoked)
    assert client.get("/v1/accounts", headers={"X-API-Key": key}).status_code == 401
    again = client.post(f"{PAGE}/keys/{made.id}/revoke", data={"csrf": admin})
    assert again.status_code == 404 and "No active API key" in text_of(again)
    bad = client.post(f"{PAGE}/keys", data={"csrf": admin, "name": "x", "scopes": ["root"]})
    assert bad.status_code == 400 and "scopes" in text_of(bad)


def test_forms_without_the_csrf_value_or_from_another_site_are_refused(client, tenant, admin):
    assert client.post(f"{PAGE}/keys", data={"name": "x", "scopes": ["posts:read"]}).status_code == 403
    assert client.post(f"{PAGE}/keys", data={"csrf": "0" * 64, "scopes": ["posts:read"]}).status_code == 403
    cross = client.post(f"{PAGE}/keys", data={"csrf": admin, "scopes": ["posts:read"]},
                        headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    with db.connection_context():
        assert ApiKey.select().count() == 1  # the tenant's own key only
    client.delete_cookie("herald_session")
    assert client.post(f"{PAGE}/keys", data={"csrf": admin, "scopes": ["posts:read"]}).status_code == 401


@pytest.mark.parametrize("role, keys_and_plugins, accounts_and_webhooks", [
    ("viewer", 403, 403), ("editor", 403, 403), ("admin", 303, 303), ("owner", 303, 303)])
def test_roles(app, client, tenant, receiver, role, keys_and_plugins, accounts_and_webhooks):
    csrf = login(client, make_user(app, tenant, role))
    html = text_of(client.get(PAGE))
    assert ('action="/app/integrations/keys"' in html) == (keys_and_plugins == 303)
    assert ('action="/app/integrations/webhooks"' in html) == (accounts_and_webhooks == 303)
    assert client.post(f"{PAGE}/keys", data={"csrf": csrf, "scopes": ["posts:read"]}).status_code == keys_and_plugins
    toggled = client.post(f"{PAGE}/plugins/webhooks", data={"csrf": csrf, "enabled": "false"})
    assert toggled.status_code == keys_and_plugins
    with db.connection_context():
        assert plugin_enabled(tenant.workspace.id, "webhooks") is (keys_and_plugins != 303)
    client.post(f"{PAGE}/plugins/webhooks", data={"csrf": csrf, "enabled": "true"})
    added = client.post(f"{PAGE}/webhooks", data={"csrf": csrf, "url": receiver.url(), "events": ["post.created"]})
    assert added.status_code == accounts_and_webhooks
    connected = client.post(f"{PAGE}/accounts", data={"csrf": csrf, "platform": "scripted",
                                                       "access_token": "tok_live_0001"})
    assert connected.status_code == accounts_and_webhooks
    if role == "viewer":
        refused = text_of(client.post(f"{PAGE}/settings", data={"csrf": csrf, "gemini_model": "x"}))
        assert "does not allow this" in refused


def test_plugins_toggle_and_a_builtin_one_stays(client, tenant, admin):
    assert "disabled" in notice_of(client, client.post(f"{PAGE}/plugins/webhooks",
                                                       data={"csrf": admin, "enabled": "false"}))
    with db.connection_context():
        assert plugin_enabled(tenant.workspace.id, "webhooks") is False
    html = text_of(client.get(PAGE))
    assert "The webhooks plugin is disabled for this workspace." in html
    assert "enabled" in notice_of(client, client.post(f"{PAGE}/plugins/webhooks",
                                                      data={"csrf": admin, "enabled": "true"}))
    assert client.post(f"{PAGE}/plugins/core_actions", data={"csrf": admin, "enabled": "false"}).status_code == 400
    assert client.post(f"{PAGE}/plugins/nothing", data={"csrf": admin, "enabled": "false"}).status_code == 404
    assert client.post(f"{PAGE}/plugins/webhooks", data={"csrf": admin, "enabled": "maybe"}).status_code == 400


def test_webhooks_add_test_see_the_delivery_redeliver_rotate_pause_delete(client, tenant, admin, receiver,
                                                                          redis_client):
    added = client.post(f"{PAGE}/webhooks", data={"csrf": admin, "url": receiver.url(),
                                                  "events": ["post.created", "publish.completed"]})
    assert added.status_code == 303
    page = text_of(client.get(added.headers["Location"]))
    secret = re.search(r'readonly value="(whsec_[^"]+)"', page).group(1)
    assert "Webhook added" in page
    hook = "wh_1"
    assert "Test event queued" in notice_of(client, client.post(f"{PAGE}/webhooks/{hook}/test", data={"csrf": admin}))
    work(redis_client)
    (payload,) = receiver.verified(secret)
    assert payload["type"] == "webhook.test"
    html = text_of(client.get(PAGE))
    attempt = re.search(r'data-attempt="(att_\d+)"', html).group(1)
    assert "webhook.test" in html and " ms " in html
    redelivered = client.post(f"{PAGE}/webhooks/deliveries/{attempt}/redeliver", data={"csrf": admin})
    assert "queued again" in notice_of(client, redelivered)
    work(redis_client)
    assert len(receiver.verified(secret)) == 2
    rotated = client.post(f"{PAGE}/webhooks/{hook}/rotate-secret", data={"csrf": admin})
    assert "whsec_" in text_of(client.get(rotated.headers["Location"]))
    assert "paused" in notice_of(client, client.post(f"{PAGE}/webhooks/{hook}/active",
                                                     data={"csrf": admin, "active": "false"}))
    assert client.post(f"{PAGE}/webhooks/{hook}/test", data={"csrf": admin}).status_code == 409
    assert "resumed" in notice_of(client, client.post(f"{PAGE}/webhooks/{hook}/active",
                                                      data={"csrf": admin, "active": "true"}))
    bad = client.post(f"{PAGE}/webhooks", data={"csrf": admin, "url": "ftp://x", "events": ["post.created"]})
    assert bad.status_code == 400 and "url" in text_of(bad)
    assert "deleted" in notice_of(client, client.post(f"{PAGE}/webhooks/{hook}/delete", data={"csrf": admin}))
    assert client.post(f"{PAGE}/webhooks/{hook}/test", data={"csrf": admin}).status_code == 404


def test_accounts_connect_with_a_token_disconnect_and_oauth_notice(client, tenant, admin):
    connected = client.post(f"{PAGE}/accounts", data={"csrf": admin, "platform": "scripted",
                                                      "access_token": "tok_live_0001"})
    assert "connected" in notice_of(client, connected)
    oauth = client.post(f"{PAGE}/accounts/connect", data={"csrf": admin, "platform": "scripted"})
    assert "connects with an access token" in notice_of(client, oauth)  # scripted has no sign-in flow
    assert client.post(f"{PAGE}/accounts/connect", data={"csrf": admin, "platform": "nope"}).status_code == 400
    gone = client.post(f"{PAGE}/accounts/acc_1/disconnect", data={"csrf": admin})
    assert "disconnected" in notice_of(client, gone)
    assert client.get("/v1/accounts/acc_1", headers=tenant.headers).get_json()["status"] == "disconnected"
    missing = client.post(f"{PAGE}/accounts", data={"csrf": admin, "platform": "scripted", "access_token": ""})
    assert missing.status_code == 400


def test_the_ai_key_is_stored_masked_and_can_be_cleared(client, tenant, admin):
    saved = client.post(f"{PAGE}/settings", data={"csrf": admin, "gemini_api_key": "AIzaSyExampleKey0000x9Q2"})
    assert saved.status_code == 303
    html = text_of(client.get(PAGE))
    assert "AIza…x9Q2" in html and "AIzaSyExampleKey0000x9Q2" not in html
    assert client.get("/api/settings", headers=tenant.headers).get_json()["settings"]["gemini_api_key_set"] is True
    client.post(f"{PAGE}/settings", data={"csrf": admin, "clear_gemini_api_key": "1"})
    assert client.get("/api/settings", headers=tenant.headers).get_json()["settings"]["gemini_api_key_set"] is False
    assert client.post(f"{PAGE}/settings", data={"csrf": admin}).status_code == 400


def test_another_workspaces_ids_are_404(app, client, make_tenant, tenant, admin, receiver):
    other = make_tenant("Other Agency")
    connect(client, other)
    hook = create_webhook(client, other, receiver.url())["id"]
    assert client.post(f"/v1/webhooks/{hook}/test", headers=other.headers).get_json()["id"] == "dlv_1"
    key = client.post("/api/keys", json={"name": "theirs"}, headers=other.headers).get_json()["api_key"]["id"]
    for path in (f"{PAGE}/keys/{key}/revoke", f"{PAGE}/accounts/acc_1/disconnect", f"{PAGE}/webhooks/wh_1/test",
                 f"{PAGE}/webhooks/wh_1/rotate-secret", f"{PAGE}/webhooks/wh_1/active", f"{PAGE}/webhooks/wh_1/delete",
                 f"{PAGE}/webhooks/deliveries/dlv_1/redeliver"):
        response = client.post(path, data={"csrf": admin, "active": "false"})
        assert response.status_code == 404, (path, response.status_code)
    html = text_of(client.get(PAGE))
    assert "theirs" not in html and receiver.url() not in html
    assert client.get(f"/v1/webhooks/{hook}", headers=other.headers).get_json()["active"] is True
    assert client.get("/v1/accounts/acc_1", headers=other.headers).get_json()["status"] == "active"


def test_an_unknown_address_under_app_is_a_page(client):
    response = client.get("/app/nothing")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"]


def test_the_login_form_shares_the_login_limit(build_app, plugin, tenant):
    client = build_app(login_rate_limit="2/minute").test_client()
    for _ in range(2):
        assert client.post("/app/login", data={"email": "nobody@example.com", "password": "x"}).status_code == 401
    limited = client.post("/app/login", data={"email": "nobody@example.com", "password": "x"})
    assert limited.status_code == 429 and limited.mimetype == "text/html" and limited.headers["Retry-After"]
    assert "Please wait" in text_of(limited)
    assert client.post("/api/login", json={"email": "nobody@example.com", "password": "x"}).status_code == 429
