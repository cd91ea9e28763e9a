"""herald.sdk: base classes whose placeholders the core tells apart from capabilities, connect flows
with fields, and settings a plugin declares."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import assert_error
from herald.capabilities import provided
from herald.config import Config
from herald.db.models import Account, db
from herald.plugins import PluginError, PluginRegistry, new_plugin_manager
from herald.sdk import (
    ConnectedAccount,
    ConnectField,
    ConnectFlow,
    Platform,
    PlatformRejected,
    PublishOutcome,
    Setting,
    hookimpl,
)

SERVER = Setting("HERALD_HERON_SERVER_TIMEOUT", 30.0, "seconds one call may take", parse=float)


class Heron(Platform):
    """A platform on any of many servers: connecting needs the server's address."""

    name = "heron"
    connect_flow = ConnectFlow(fields=(ConnectField("server", "the server's address, such as https://heron.example",
                                                    pattern=r"https://[a-z0-9.-]+"),))

    def connect(self, token, *, config, details):
        if token.startswith("bad"):
            raise PlatformRejected("The server refused this token.")
        if token.startswith("crash"):
            raise KeyError("id")  # an answer the plugin could not read
        return ConnectedAccount(external_id=token[-4:], username=f"{details['server']}/@{token[-4:]}", token=token,
                                settings={"server": details["server"], "timeout": SERVER.value(config)})

    def publish(self, ctx):
        return PublishOutcome.published("1")


class HeronPlugin:
    @hookimpl
    def register_platforms(self, register):
        register(Heron())

    @hookimpl
    def register_settings(self, register):
        register(SERVER)


def test_a_method_a_subclass_leaves_out_is_no_capability():
    heron = Heron()
    assert provided(heron, "publish") is not None and provided(heron, "connect") is not None
    assert provided(heron, "post_comment") is None and provided(heron, "reconcile") is None
    assert provided(heron, "check_post") is not None and heron.check_post(None) is None  # a real default


def test_a_subclass_without_publish_stops_start_up():
    class Mute(Platform):
        name = "mute"

    class Plugin:
        @hookimpl
        def register_platforms(self, register):
            register(Mute())

    pm = new_plugin_manager()
    pm.register(Plugin(), name="mute")
    with pytest.raises(PluginError, match="'mute' registered a platform without publish"):
        PluginRegistry(pm)


def test_a_setting_comes_from_the_config_then_the_environment_then_its_default():
    assert SERVER.value(Config()) == 30.0
    assert SERVER.value(Config.from_env({"HERALD_HERON_SERVER_TIMEOUT": "5"})) == 5.0
    from_env = Config.from_env({"HERALD_HERON_SERVER_TIMEOUT": "5"})
    assert SERVER.value(from_env.with_settings(heron_server_timeout=2)) == 2
    with pytest.raises(ValueError, match="HERALD_HERON_SERVER_TIMEOUT='soon' is not valid"):
        SERVER.value(Config.from_env({"HERALD_HERON_SERVER_TIMEOUT": "soon"}))
    with pytest.raises(ValueError, match="HERALD_ and capitals"):
        Setting("heron_thing", 1, "no prefix")


def test_a_setting_that_does_not_parse_stops_start_up_naming_it():
    pm = new_plugin_manager()
    pm.register(HeronPlugin(), name="heron")
    registry = PluginRegistry(pm)
    assert registry.settings_of("heron") == [SERVER]
    with pytest.raises(PluginError, match="plugin 'heron': HERALD_HERON_SERVER_TIMEOUT='soon' is not valid"):
        registry.check_settings(Config.from_env({"HERALD_HERON_SERVER_TIMEOUT": "soon"}))


@pytest.fixture
def heron_app(register_plugin, herald_app_factory):
    """The application with the Heron platform loaded, as a third party's tests make it (herald.testing)."""
    register_plugin(HeronPlugin(), "heron")
    return herald_app_factory(heron_server_timeout=7.5)


def test_connecting_asks_for_the_fields_the_platform_declares(heron_app, herald_workspace):
    client, heron_key = heron_app.test_client(), herald_workspace.headers
    token = {"platform": "heron", "access_token": "tok_heron_0001"}
    missing = client.post("/v1/accounts", json=token, headers=heron_key)
    assert_error(missing, 400, "validation_error", field="details.server")
    assert "the server's address" in missing.get_json()["error"]["message"]
    wrong = client.post("/v1/accounts", json={**token, "details": {"server": "http://inside"}}, headers=heron_key)
    assert_error(wrong, 400, "validation_error", field="details.server")
    extra = client.post("/v1/accounts", headers=heron_key,
                        json={**token, "details": {"server": "https://heron.example", "colour": "grey"}})
    assert_error(extra, 400, "validation_error", field="details.colour")
    connected = client.post("/v1/accounts", json={**token, "details": {"server": " https://heron.example "}},
                            headers=heron_key)
    assert connected.status_code == 201, connected.get_json()
    assert connected.get_json()["username"] == "https://heron.example/@0001"
    with heron_app.app_context(), db.connection_context():
        account = Account.get(Account.platform == "heron")
        assert account.settings == {"server": "https://heron.example", "timeout": 7.5}  # the setting, as configured


def test_the_kit_publishes_through_a_plugin_with_real_jobs(heron_app, herald_workspace, herald_jobs,
                                                           herald_clock):
    client, headers = heron_app.test_client(), herald_workspace.headers
    account = client.post("/v1/accounts", headers=headers, json={
        "platform": "heron", "access_token": "tok_heron_0002", "details": {"server": "https://heron.example"}})
    assert account.status_code == 201, account.get_json()
    when = (herald_clock.now() + dt.timedelta(seconds=30)).replace(microsecond=0).isoformat() + "Z"
    later = client.post("/v1/publish", headers=headers, json={
        "content": "Hello herons", "accounts": [account.get_json()["id"]], "schedule": when})
    assert later.status_code in (201, 202), later.get_json()
    assert herald_jobs.run() == 0  # not due yet
    post_id = later.get_json()["id"]
    herald_jobs.advance(60)  # the clock moves, due jobs are released and run: no sleeping
    tasks = client.get(f"/v1/posts/{post_id}", headers=headers).get_json()["tasks"]
    assert [task["status"] for task in tasks] == ["published"]


def test_a_plugin_failing_unexpectedly_while_connecting_is_a_platform_error(heron_app, herald_workspace, caplog):
    response = heron_app.test_client().post("/v1/accounts", headers=herald_workspace.headers, json={
        "platform": "heron", "access_token": "crash_heron_0003", "details": {"server": "https://heron.example"}})
    error = assert_error(response, 500, "platform_error")
    assert "The heron plugin failed while asking heron" in error["message"] and "KeyError" in error["message"]
    assert "the heron plugin failed unexpectedly" in caplog.text  # with its traceback, for the operator
    with heron_app.app_context(), db.connection_context():
        assert not Account.select().where(Account.platform == "heron").exists()
