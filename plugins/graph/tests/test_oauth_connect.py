"""Connecting Instagram and Facebook accounts through Facebook Login, end to end against the fake Graph API:
``POST /v1/accounts/connect`` answers the dialog's address with a signed, single-use, expiring state; the
test plays the user consenting (the fake issues a code) and calls Herald's callback as the browser would.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from graph_drive import connect_account

from conftest import assert_error, start_app, with_changes
from drive import work
from fakes.graph import (
    APP_ID,
    APP_SECRET,
    FB_USER_ID,
    FB_USER_TOKEN,
    IG_APP_ID,
    IG_APP_SECRET,
    IG_TOKEN,
    IG_USER_ID,
    IG_USERNAME,
    PAGE_ID,
    PAGE_NAME,
    PAGE_TOKEN,
)
from herald import crypto
from herald.db.models import Account, OAuthState, Post, db
from herald.platforms import ConnectedAccount
from herald.publishing import accounts, oauth_connect
from herald_graph import settings as graph_settings

PUBLIC = "https://herald.test"
CALLBACK = PUBLIC + "/v1/accounts/callback/{}"


@pytest.fixture
def app(clock, config, fake):
    """Herald with its Graph hosts on the fake, a public URL and the Meta app of the fake's tokens."""
    application = start_app(clock, with_changes(config, **fake.hosts(), public_url=PUBLIC, meta_app_id=APP_ID,
                                                meta_app_secret=APP_SECRET,
                                                oauth_redirect_allowlist=("https://console.agency.test",)))
    yield application
    db.obj.close_all()


def start(client, tenant, platform: str = "instagram", **body):
    return client.post("/v1/accounts/connect", json={"platform": platform, **body}, headers=tenant.headers)


def consent(fake, started: dict, user_id: str = FB_USER_ID) -> str:
    """What the user's browser does in Meta's dialog: log in and agree; Meta then sends it to the
    redirect_uri with a code."""
    query = parse_qs(urlsplit(started["authorization_url"]).query)
    return fake.authorize(user_id, query["redirect_uri"][0])


def callback(client, platform: str, **params):
    return client.get(f"/v1/accounts/callback/{platform}", query_string=params)


def stored(account_id: str) -> Account:
    with db.connection_context():
        return Account.get_by_id(int(account_id.removeprefix("acc_")))


def token_of(account_id: str) -> str:
    return crypto.decrypt("test-secret-key", stored(account_id).token_encrypted)


def test_instagram_accounts_connect_through_facebook_login(fake, client, tenant):
    response = start(client, tenant)
    assert response.status_code == 200, response.get_json()
    started = response.get_json()
    dialog = urlsplit(started["authorization_url"])
    query = parse_qs(dialog.query)
    assert f"{dialog.scheme}://{dialog.netloc}{dialog.path}" == fake.base_url + "/dialog/oauth"  # the fake's
    assert graph_settings.FACEBOOK_DIALOG_URL.default == "https://www.facebook.com/dialog/oauth"  # Meta's
    assert query["client_id"] == [APP_ID] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [CALLBACK.format("instagram")] == [started["redirect_uri"]]
    assert query["state"] == [started["state"]]
    assert "instagram_content_publish" in query["scope"][0].split(",")
    assert "code_challenge" not in query  # Meta's flow declares no PKCE

    code = consent(fake, started)
    connected = callback(client, "instagram", code=code, state=started["state"])
    assert connected.status_code == 200, connected.get_json()
    body = connected.get_json()
    [account] = body["accounts"]
    assert (account["platform"], account["username"], account["status"]) == ("instagram", IG_USERNAME, "active")
    assert body["created"] == [account["id"]] and body["missing"] == []
    # The Page's token, asked with the long-lived user token: it never expires.
    assert token_of(account["id"]) == PAGE_TOKEN and account["token_expires_at"] is None
    assert stored(account["id"]).settings == {"login": "facebook", "page_id": PAGE_ID}
    # Code exchange, then the long-lived exchange, then the Pages listed with the long-lived token.
    exchanges = fake.calls("GET", r"^/oauth/access_token$")
    assert [sorted(call.params) for call in exchanges] == [
        ["client_id", "client_secret", "code", "redirect_uri"],
        ["client_id", "client_secret", "fb_exchange_token", "grant_type"]]
    assert exchanges[0].params["redirect_uri"] == CALLBACK.format("instagram")
    [listing] = fake.calls("GET", r"^/me/accounts$")
    assert listing.token.startswith("EAAL-long-lived-")
    # The account publishes like one connected with a pasted token.
    assert client.get(f"/v1/accounts/{account['id']}", headers=tenant.headers).get_json()["status"] == "active"


def test_facebook_pages_connect_and_only_those_named(fake, client, tenant):
    fake.add_page("1055500000000002", "Second Page", token="EAAP-second-page")
    fake.add_user("10220000000000002", "Two Pages", token="EAAU-two-pages", pages=[PAGE_ID, "1055500000000002"])
    everything = start(client, tenant, "facebook").get_json()
    all_pages = callback(client, "facebook", code=consent(fake, everything, "10220000000000002"),
                         state=everything["state"]).get_json()
    assert sorted(account["username"] for account in all_pages["accounts"]) == [PAGE_NAME, "Second Page"]

    named = start(client, tenant, "facebook", accounts=["1055500000000002", "999"]).get_json()
    only = callback(client, "facebook", code=consent(fake, named, "10220000000000002"), state=named["state"])
    body = only.get_json()
    assert [account["username"] for account in body["accounts"]] == ["Second Page"]
    assert body["created"] == [] and body["missing"] == ["999"]  # reconnected, and what the login lacks is said
    assert token_of(body["accounts"][0]["id"]) == "EAAP-second-page"

    nothing = start(client, tenant, "facebook", accounts=["999"]).get_json()
    refused = callback(client, "facebook", code=consent(fake, nothing), state=nothing["state"])
    message = assert_error(refused, 400, "validation_error", "accounts")["message"]
    assert PAGE_NAME in message and PAGE_ID in message  # what it offers instead


def test_a_tampered_or_foreign_state_is_refused(fake, client, tenant, build_app):
    started = start(client, tenant).get_json()
    code = consent(fake, started)
    body, signature = started["state"].split(".")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    for state in (f"{flipped}.{signature}", f"{body}.{signature[:-2]}", body, "nonsense", "", "é.é",
                  f"{body}.{signature}é"):
        assert_error(callback(client, "instagram", code=code, state=state), 400, "validation_error", "state")
    # Another platform's callback does not take it either.
    assert_error(callback(client, "facebook", code=code, state=started["state"]), 400, "validation_error", "state")
    # A server with another secret key did not issue it.
    other = build_app(**fake.hosts(), public_url=PUBLIC, meta_app_id=APP_ID, meta_app_secret=APP_SECRET,
                      secret_key="another-secret").test_client()
    assert_error(callback(other, "instagram", code=code, state=started["state"]), 400, "validation_error", "state")
    assert fake.calls("GET", r"^/oauth/access_token$") == []  # nothing reached Meta
    # The genuine one still works once.
    assert callback(client, "instagram", code=code, state=started["state"]).status_code == 200


def test_a_state_works_once(fake, client, tenant):
    started = start(client, tenant).get_json()
    code = consent(fake, started)
    assert callback(client, "instagram", code=code, state=started["state"]).status_code == 200
    replayed = callback(client, "instagram", code=code, state=started["state"])
    assert "used already" in assert_error(replayed, 409, "conflict", "state")["message"]
    assert len(fake.calls("GET", r"^/oauth/access_token$")) == 2  # the replay exchanged nothing


def test_an_expired_state_is_refused(fake, client, tenant, clock):
    started = start(client, tenant).get_json()
    code = consent(fake, started)
    clock.advance(10 * 60 + 1)
    expired = callback(client, "instagram", code=code, state=started["state"])
    assert "expired" in assert_error(expired, 400, "validation_error", "state")["message"]
    assert fake.calls("GET", r"^/oauth/access_token$") == []


def test_denied_consent_connects_nothing_and_uses_up_the_state(fake, client, tenant):
    started = start(client, tenant).get_json()
    denied = callback(client, "instagram", state=started["state"], error="access_denied", error_reason="user_denied",
                      error_description="Permissions error.")
    message = assert_error(denied, 400, "validation_error", "error")["message"]
    assert "declined" in message and "Permissions error." in message
    assert client.get("/v1/accounts", headers=tenant.headers).get_json()["accounts"] == []
    assert_error(callback(client, "instagram", code=consent(fake, started), state=started["state"]), 409, "conflict")


def test_a_code_meta_refuses_is_a_400_on_code(fake, client, tenant):
    started = start(client, tenant).get_json()
    refused = callback(client, "instagram", code="AQD-made-up", state=started["state"])
    assert "Invalid verification code format" in assert_error(refused, 400, "validation_error", "code")["message"]
    again = start(client, tenant).get_json()
    code = consent(fake, again)
    fake.advance(601)  # Meta's codes last 10 minutes
    late = callback(client, "instagram", code=code, state=again["state"])
    assert "expired" in assert_error(late, 400, "validation_error", "code")["message"]
    assert_error(callback(client, "instagram", state=start(client, tenant).get_json()["state"]), 400,
                 "validation_error", "code")


def test_without_the_meta_app_the_api_names_the_settings(fake, client, tenant, build_app):
    bare = build_app(**fake.hosts(), public_url=PUBLIC).test_client()
    for platform in ("instagram", "facebook"):
        refused = start(bare, tenant, platform)
        message = assert_error(refused, 409, "conflict", "platform")["message"]
        assert "HERALD_META_APP_ID and HERALD_META_APP_SECRET" in message
    # Pasting a token keeps working without them.
    assert connect_account(bare, tenant, "instagram", IG_TOKEN).status_code == 201
    no_public = build_app(**fake.hosts(), public_url=None, meta_app_id=APP_ID, meta_app_secret=APP_SECRET)
    assert "HERALD_PUBLIC_URL" in assert_error(start(no_public.test_client(), tenant), 409, "conflict")["message"]


def test_unknown_platforms_are_refused(client, tenant):
    assert_error(start(client, tenant, "myspace"), 400, "validation_error", "platform")
    assert_error(callback(client, "myspace", code="x", state="y"), 400, "validation_error", "platform")


def test_the_browser_goes_back_only_to_an_allowed_address(fake, client, tenant):
    for allowed in ("https://herald.test/app/integrations?tab=meta", "https://console.agency.test/done"):
        started = start(client, tenant, redirect_uri=allowed).get_json()
        back = callback(client, "instagram", code=consent(fake, started), state=started["state"])
        assert back.status_code == 303
        location = urlsplit(back.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == allowed.split("?")[0]
        assert parse_qs(location.query)["connected"][0].startswith("acc_")
    for refused in ("https://evil.test/", "https://herald.test.evil.test/", "http://herald.test/",
                    "https://user@herald.test/", "javascript:alert(1)", "//evil.test/"):
        assert_error(start(client, tenant, redirect_uri=refused), 400, "validation_error", "redirect_uri")
    denied = start(client, tenant, redirect_uri="https://console.agency.test/done").get_json()
    back = callback(client, "instagram", state=denied["state"], error="access_denied")
    query = parse_qs(urlsplit(back.headers["Location"]).query)
    assert back.status_code == 303 and query["error"] == ["access_denied"]
    assert "declined" in query["error_description"][0]


def test_reconnecting_keeps_the_account_its_history_and_queued_posts(fake, client, tenant, clock):
    pasted = connect_account(client, tenant, "facebook", FB_USER_TOKEN).get_json()
    tomorrow = (clock.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    queued = client.post("/v1/publish", json={"content": "Tomorrow's bread", "accounts": [pasted["id"]],
                                              "schedule": tomorrow}, headers=tenant.headers)
    assert queued.status_code in (200, 201, 202), queued.get_json()
    started = start(client, tenant, "facebook").get_json()
    body = callback(client, "facebook", code=consent(fake, started), state=started["state"]).get_json()
    [account] = body["accounts"]
    assert account["id"] == pasted["id"] and account["created_at"] == pasted["created_at"] and body["created"] == []
    post = client.get(f"/v1/posts/{queued.get_json()['id']}", headers=tenant.headers).get_json()
    assert post["status"] == "queued" and [task["account_id"] for task in post["tasks"]] == [pasted["id"]]
    with db.connection_context():
        assert Post.select().count() == 1 and Account.select().count() == 1


def test_a_stored_refresh_token_is_never_replaced_by_an_empty_one(app, tenant):
    runtime = app.extensions["herald"]
    with db.connection_context():
        first, created = accounts.store(runtime, tenant.workspace.id, "facebook",
                                        ConnectedAccount(PAGE_ID, PAGE_NAME, "token-1", refresh_token="refresh-1"))
        again, created_again = accounts.store(runtime, tenant.workspace.id, "facebook",
                                              ConnectedAccount(PAGE_ID, PAGE_NAME, "token-2"))
        row = Account.get_by_id(first.id)
    assert created and not created_again and again.id == first.id
    assert crypto.decrypt("test-secret-key", row.refresh_token_encrypted) == "refresh-1"
    assert crypto.decrypt("test-secret-key", row.token_encrypted) == "token-2"


def test_the_reconciler_purges_flows_a_day_past_their_expiry(fake, client, tenant, clock):
    start(client, tenant)
    with db.connection_context():
        assert oauth_connect.purge(clock.now()) == 0
        assert oauth_connect.purge(clock.now() + dt.timedelta(days=1, minutes=11)) == 1
        assert OAuthState.select().count() == 0


def test_a_connected_account_publishes(fake, client, tenant, redis_client):
    started = start(client, tenant, "facebook").get_json()
    [account] = callback(client, "facebook", code=consent(fake, started), state=started["state"]).get_json()["accounts"]
    client.post("/v1/publish", json={"content": "Hello from OAuth", "accounts": [account["id"]]},
                headers=tenant.headers)
    assert work(redis_client) == 1
    assert [post["message"] for post in fake.published(PAGE_ID)] == ["Hello from OAuth"]
    assert IG_USER_ID  # the IG account linked to the Page was not connected by the facebook flow


def test_instagram_login_connects_the_account_that_logs_in(fake, client, tenant, build_app):
    app = build_app(**fake.hosts(), public_url=PUBLIC, instagram_oauth_login="instagram")
    bare = app.test_client()
    message = assert_error(start(bare, tenant), 409, "conflict", "platform")["message"]
    assert "HERALD_INSTAGRAM_APP_ID and HERALD_INSTAGRAM_APP_SECRET" in message
    pasted = connect_account(bare, tenant, "instagram", IG_TOKEN).get_json()  # pasting still works

    ig = build_app(**fake.hosts(), public_url=PUBLIC, instagram_oauth_login="instagram", instagram_app_id=IG_APP_ID,
                   instagram_app_secret=IG_APP_SECRET).test_client()
    started = start(ig, tenant).get_json()
    dialog = urlsplit(started["authorization_url"])
    query = parse_qs(dialog.query)
    assert f"{dialog.netloc}{dialog.path}" == "www.instagram.com/oauth/authorize"
    assert query["client_id"] == [IG_APP_ID] and "instagram_business_content_publish" in query["scope"][0]
    code = fake.authorize(IG_USER_ID, query["redirect_uri"][0])
    body = callback(ig, "instagram", code=code, state=started["state"]).get_json()
    [account] = body["accounts"]
    # The same account as the pasted token's: reconnected, with the long-lived token (60 days).
    assert account["id"] == pasted["id"] and body["created"] == [] and account["username"] == IG_USERNAME
    assert token_of(account["id"]).startswith("IGAA-long-lived-") and account["token_expires_at"] is not None
    assert stored(account["id"]).settings == {"login": "instagram"}
    [exchange] = fake.calls("POST", r"^/oauth/access_token$")
    assert exchange.params["grant_type"] == "authorization_code" and exchange.params["client_id"] == IG_APP_ID
    assert fake.calls("GET", r"^/access_token$")[0].params["grant_type"] == "ig_exchange_token"
    # A Facebook Login code is not Instagram's.
    again = start(ig, tenant).get_json()
    wrong = callback(ig, "instagram", code=consent(fake, again), state=again["state"])
    assert_error(wrong, 400, "validation_error", "code")
