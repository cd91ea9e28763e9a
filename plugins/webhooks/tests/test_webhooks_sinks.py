"""Extension points the webhooks plugin is built on: a second sink from a throwaway plugin, plugin
migrations, plugin blueprints, and the SSRF guard at delivery time."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Blueprint
from webhooks_drive import create_post, create_webhook, work

from conftest import start_app
from herald import hookimpl
from herald.db.models import db, open_database, set_plugin_enabled
from herald.net import guard as netguard
from herald.plugins import PluginError, PluginRegistry, get_plugin_manager, new_plugin_manager
from herald.upgrading import pending, upgrade
from herald_webhooks.models import WebhookAttempt


class MemorySink:
    """A sink that keeps what it is given."""

    name = "memory"

    def __init__(self):
        self.events = []

    def deliver(self, event, runtime):
        self.events.append((event.workspace_id, event.type, event.id))


class MemorySinkPlugin:
    def __init__(self):
        self.sink = MemorySink()

    @hookimpl
    def register_webhook_sinks(self, register):
        register(self.sink)


@pytest.fixture
def memory_plugin():
    pm = get_plugin_manager()
    plugin = MemorySinkPlugin()
    pm.register(plugin, name="memory_sink")
    yield plugin
    pm.unregister(name="memory_sink")


@pytest.fixture
def app(clock, config, memory_plugin):
    application = start_app(clock, dataclasses.replace(config, webhook_allow_private=True))
    yield application
    db.obj.close_all()


def test_a_second_sink_from_a_throwaway_plugin_gets_every_event(client, make_tenant, memory_plugin, redis_client,
                                                               clock):
    first, second = make_tenant("First"), make_tenant("Second")
    assert set(PluginRegistry(get_plugin_manager()).webhook_sinks) == {"http", "memory"}
    create_post(client, first)
    with db.connection_context():
        set_plugin_enabled(second.workspace.id, "memory_sink", False, clock.now())
    create_post(client, second)
    assert [(ws, kind) for ws, kind, _ in memory_plugin.sink.events] == [(first.workspace.id, "post.created")]


def test_a_failing_sink_does_not_stop_the_others(client, tenant, memory_plugin, redis_client, monkeypatch):
    from fakes.receiver import Receiver

    def explode(event):
        raise RuntimeError("sink bug")

    monkeypatch.setattr(memory_plugin.sink, "deliver", explode)
    with Receiver() as receiver:
        hook = create_webhook(client, tenant, receiver.url())
        create_post(client, tenant)
        work(redis_client)
        assert len(receiver.verified(hook["secret"])) == 1


def test_the_sink_dispatcher_is_not_listed_as_a_plugin(app):
    assert "herald.sink_dispatcher" not in app.extensions["herald"].registry.plugin_names()
    assert "webhooks" in app.extensions["herald"].registry.plugin_names()


def test_init_db_applies_plugin_migrations_once(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'fresh.db'}")
    applied = upgrade(database)
    assert applied[0] == "0001_initial" and "webhooks:0001_initial" in applied
    assert upgrade(database) == [] and pending(database) == []
    assert {"webhook_endpoint", "webhook_delivery", "webhook_attempt"} <= set(database.get_tables())
    database.close_all()


def test_a_plugin_registering_something_else_than_a_blueprint_stops_start_up():
    class Wrong:
        @hookimpl
        def register_blueprints(self, register):
            register("not a blueprint")

    pm = new_plugin_manager()
    pm.register(Wrong(), name="wrong")
    with pytest.raises(PluginError, match="not a flask.Blueprint"):
        PluginRegistry(pm).blueprints()


def test_plugin_blueprints_are_served(clock, config):
    bp = Blueprint("pinger", __name__, url_prefix="/v1/pinger")
    bp.add_url_rule("/ping", "ping", lambda: {"pong": True})

    class Pinger:
        @hookimpl
        def register_blueprints(self, register):
            register(bp)

    pm = new_plugin_manager()
    pm.register(Pinger(), name="pinger")
    application = start_app(clock, config, pm=pm)
    assert application.test_client().get("/v1/pinger/ping").get_json() == {"pong": True}
    db.obj.close_all()


def test_a_name_resolving_to_a_private_address_at_delivery_time_is_refused(clock, config, tenant, redis_client,
                                                                            monkeypatch):
    """DNS rebinding across registration and delivery: the URL was public when registered."""
    answers = iter([["93.184.216.34"], ["10.0.0.7"]])
    monkeypatch.setattr(netguard, "system_resolver", lambda host, port: next(answers))
    strict = start_app(clock, config).test_client()  # private addresses not allowed
    create_webhook(strict, tenant, "https://hooks.example.com/in")
    create_post(strict, tenant)
    work(redis_client)
    with db.connection_context():
        (attempt,) = WebhookAttempt.select()
    assert attempt.status_code is None and "SSRF guard" in attempt.error and "10.0.0.7" in attempt.error
    db.obj.close_all()
