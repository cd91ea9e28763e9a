"""Domain events reach on_event after commit, only for plugins enabled in the event's workspace."""

from __future__ import annotations

import pytest

from herald import events, hookimpl
from herald.app import create_app
from herald.models import Event, db, set_plugin_enabled
from herald.plugins import get_plugin_manager


class Listener:
    """A plugin that records the events it hears (and fails on one, to show the others still run)."""

    def __init__(self):
        self.heard = []

    @hookimpl
    def on_event(self, event):
        if event.data.get("post", {}).get("content") == "explode":
            raise RuntimeError("listener bug")
        self.heard.append((event.workspace_id, event.type))


@pytest.fixture
def listener():
    pm = get_plugin_manager()
    instance = Listener()
    pm.register(instance, name="listener")
    yield instance
    pm.unregister(name="listener")


@pytest.fixture
def app(config, listener):
    application = create_app(config)
    yield application
    db.obj.close_all()


def create(client, tenant, caption="Hello"):
    return client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": caption, "platforms": "instagram"})


def test_events_reach_enabled_plugins_only(client, make_tenant, listener):
    first, second = make_tenant("First"), make_tenant("Second")
    with db.connection_context():
        set_plugin_enabled(second.workspace.id, "listener", False)
    assert create(client, first).status_code == 201
    assert create(client, second).status_code == 201
    assert listener.heard == [(first.workspace.id, "post.created")]
    with db.connection_context():
        assert Event.select().where(Event.dispatched_at.is_null()).count() == 0


def test_a_failing_listener_does_not_fail_the_request(client, tenant, listener):
    assert create(client, tenant, "explode").status_code == 201
    assert create(client, tenant).status_code == 201
    assert listener.heard == [(tenant.workspace.id, "post.created")]


def test_every_event_type_can_be_subscribed_to_and_is_documented():
    """The webhook schemas, the README and docs/plugins.md list exactly the event types Herald emits."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name in ("webhook_create", "webhook_update"):
        schema = json.loads((root / "schemas" / f"{name}.json").read_text())
        assert schema["properties"]["events"]["items"]["enum"] == list(events.EVENT_TYPES), name
    for document in ("README.md", "docs/plugins.md"):
        text = (root / document).read_text()
        missing = [kind for kind in events.EVENT_TYPES if f"`{kind}`" not in text]
        assert not missing, f"{document} does not mention {missing}"
