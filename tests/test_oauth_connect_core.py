"""The OAuth connect flow as the core runs it for any platform that declares one through the SDK (a
third-party platform gets the same flow as Meta's): PKCE S256 where the flow declares it, the dialog
built from the declaration, a refresh token kept. The Meta plugins' flow, against the fake Graph API, is
tested in plugins/graph/tests/test_oauth_connect.py."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from app_support import login, make_user

from conftest import assert_error, start_app, with_changes
from herald import crypto
from herald.cli import cli
from herald.config import Config
from herald.db.models import Account, db
from herald.sdk import (
    AuthorizationRequest,
    ConnectedAccount,
    ConnectFlow,
    NotConfigured,
    OAuthGrant,
    Platform,
    PlatformRejected,
    hookimpl,
)

CLIENT_ID = "heron-client"


class HeronPlatform(Platform):
    """A platform with a standard OAuth 2 authorisation-code flow with PKCE; its "server" keeps the codes
    it issued in memory (the test plays the user consenting with :meth:`consent`)."""

    name = "heron"
    connect_flow = ConnectFlow(kind="oauth2", authorize_url="https://heron.example/oauth/authorize",
                               token_url="https://heron.example/oauth/token", scopes=("read", "write"), pkce=True)

    def __init__(self):
        self.client_id = CLIENT_ID
        self.codes: dict[str, dict] = {}

    def consent(self, dialog_url: str) -> str:
        """The user agrees in the dialog: a code bound to the dialog's challenge and redirect_uri."""
        query = {name: values[0] for name, values in parse_qs(urlsplit(dialog_url).query).items()}
        code = secrets.token_urlsafe(8)
        self.codes[code] = query
        return code

    def authorization_url(self, request: AuthorizationRequest, *, config) -> str:
        if not self.client_id:
            raise NotConfigured(("HERALD_HERON_CLIENT_ID",), "the client id of your Heron app")
        return self.connect_flow.dialog_url(self.client_id, request)

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str | None, config) -> OAuthGrant:
        issued = self.codes.pop(code, None)
        if issued is None or issued["redirect_uri"] != redirect_uri:
            raise PlatformRejected("invalid_grant: the code is not valid")
        challenge = base64.urlsafe_b64encode(hashlib.sha256((code_verifier or "").encode()).digest()).rstrip(b"=")
        if issued.get("code_challenge_method") != "S256" or challenge.decode() != issued.get("code_challenge"):
            raise PlatformRejected("invalid_grant: PKCE verification failed")
        return OAuthGrant(access_token="heron-access", refresh_token="heron-refresh", scopes=("read", "write"))

    def list_connectable(self, grant: OAuthGrant, *, config) -> list[ConnectedAccount]:
        return [ConnectedAccount("h-1", "heron.one", grant.access_token, refresh_token=grant.refresh_token)]

    def connect(self, token: str, *, config, details) -> ConnectedAccount:
        return ConnectedAccount("h-1", "heron.one", token)

    def publish(self, ctx):
        raise NotImplementedError


class HeronPlugin:
    def __init__(self):
        self.platform = HeronPlatform()

    @hookimpl
    def register_platforms(self, register):
        register(self.platform)


@pytest.fixture
def heron(register_plugin) -> HeronPlatform:
    return register_plugin(HeronPlugin(), "heron").platform


@pytest.fixture
def app(config, clock, heron):
    application = start_app(clock, with_changes(config, public_url="https://herald.test"))
    yield application
    db.obj.close_all()


def start(client, tenant):
    return client.post("/v1/accounts/connect", json={"platform": "heron"}, headers=tenant.headers)


def test_a_third_party_platform_gets_the_flow_with_pkce(client, tenant, heron):
    started = start(client, tenant).get_json()
    query = parse_qs(urlsplit(started["authorization_url"]).query)
    assert started["authorization_url"].startswith("https://heron.example/oauth/authorize?")
    assert query["scope"] == ["read write"] and query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["https://herald.test/v1/accounts/callback/heron"]
    code = heron.consent(started["authorization_url"])
    done = client.get("/v1/accounts/callback/heron", query_string={"code": code, "state": started["state"]})
    assert done.status_code == 200, done.get_json()
    [account] = done.get_json()["accounts"]
    with db.connection_context():
        row = Account.get_by_id(int(account["id"].removeprefix("acc_")))
    assert crypto.decrypt("test-secret-key", row.refresh_token_encrypted) == "heron-refresh"
    # Pasting a token later keeps the refresh token the login gave.
    assert client.post("/v1/accounts", json={"platform": "heron", "access_token": "heron-pasted-token"},
                       headers=tenant.headers).status_code == 200
    with db.connection_context():
        row = Account.get_by_id(row.id)
    assert crypto.decrypt("test-secret-key", row.refresh_token_encrypted) == "heron-refresh"
    assert crypto.decrypt("test-secret-key", row.token_encrypted) == "heron-pasted-token"


def test_the_verifier_stays_on_the_server(client, tenant, heron):
    started = start(client, tenant).get_json()
    assert "code_verifier" not in started["authorization_url"] and "verifier" not in str(started)
    code = heron.consent(started["authorization_url"].replace("code_challenge=", "code_challenge=x"))
    refused = client.get("/v1/accounts/callback/heron", query_string={"code": code, "state": started["state"]})
    assert "PKCE" in assert_error(refused, 400, "validation_error", "code")["message"]


def test_a_platform_missing_its_settings_names_them(client, tenant, heron):
    heron.client_id = ""
    message = assert_error(start(client, tenant), 409, "conflict", "platform")["message"]
    assert "HERALD_HERON_CLIENT_ID" in message and "the client id of your Heron app" in message


def test_a_platform_without_the_flow_takes_pasted_tokens_only(plugin, client, tenant):
    refused = client.post("/v1/accounts/connect", json={"platform": "scripted"}, headers=tenant.headers)
    assert "pasted token" in assert_error(refused, 400, "validation_error", "platform")["message"]


def test_the_redirect_allowlist_is_read_from_the_environment():
    config = Config.from_env({"HERALD_OAUTH_REDIRECT_ALLOWLIST": "https://a.test, https://b.test:8443"})
    assert config.oauth_redirect_allowlist == ("https://a.test", "https://b.test:8443")
    assert Config.from_env({}).oauth_redirect_allowlist == ()


def test_the_integrations_page_connects_through_the_sign_in_and_comes_back(app, client, tenant, heron):
    csrf = login(client, make_user(app, tenant, "admin"))
    answer = client.post("/app/integrations/accounts/connect", data={"csrf": csrf, "platform": "heron"})
    assert answer.status_code == 200 and "default-src 'none'" in answer.headers["Content-Security-Policy"]
    dialog = re.search(r'id="continue" href="([^"]+)"', answer.get_data(as_text=True)).group(1).replace("&amp;", "&")
    assert dialog.startswith("https://heron.example/oauth/authorize?")
    state = parse_qs(urlsplit(dialog).query)["state"][0]
    back = client.get("/v1/accounts/callback/heron", query_string={"code": heron.consent(dialog), "state": state})
    assert back.status_code == 303
    assert back.headers["Location"].startswith("https://herald.test/app/integrations?connected=acc_")
    page = client.get("/app/integrations?" + urlsplit(back.headers["Location"]).query).get_data(as_text=True)
    assert "Account connected." in page and 'data-account="acc_1"' in page
    declined = client.get("/app/integrations?error=access_denied").get_data(as_text=True)
    assert "the sign-in was declined" in declined


def test_herald_accounts_connect_url_prints_the_dialog_a_browser_completes(app, client, tenant, heron):
    runner = app.test_cli_runner()
    printed = runner.invoke(cli, ["accounts", "connect-url", "heron", "--workspace", str(tenant.workspace.id)])
    assert printed.exit_code == 0, printed.output
    dialog = printed.stdout.strip()
    assert dialog.startswith("https://heron.example/oauth/authorize?") and "valid" not in dialog
    state = parse_qs(urlsplit(dialog).query)["state"][0]
    done = client.get("/v1/accounts/callback/heron", query_string={"code": heron.consent(dialog), "state": state})
    assert done.status_code == 200 and done.get_json()["created"] == ["acc_1"]
    heron.client_id = ""
    refused = runner.invoke(cli, ["accounts", "connect-url", "heron", "--workspace", str(tenant.workspace.id)])
    assert refused.exit_code == 1 and "HERALD_HERON_CLIENT_ID" in refused.output
