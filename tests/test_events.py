"""Domain events reach on_event after commit, only for plugins enabled in the event's workspace."""

from __future__ import annotations

import pytest

from conftest import start_app
from herald import events, hookimpl
from herald.db.models import Event, db, set_plugin_enabled
from herald.events import dispatch_marks
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
def app(clock, config, listener):
    application = start_app(clock, config)
    yield application
    db.obj.close_all()


def create(client, tenant, caption="Hello"):
    return client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": caption, "platforms": "instagram"})


def test_events_reach_enabled_plugins_only(client, make_tenant, listener, clock):
    first, second = make_tenant("First"), make_tenant("Second")
    with db.connection_context():
        set_plugin_enabled(second.workspace.id, "listener", False, clock.now())
    assert create(client, first).status_code == 201
    assert create(client, second).status_code == 201
    assert listener.heard == [(first.workspace.id, "post.created")]
    with db.connection_context():
        assert dispatch_marks.write_owed() == 2
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


# -- the dispatched mark, deferred on the action endpoint (herald.events.dispatch_marks) -------------------

def undispatched() -> int:
    with db.connection_context():
        return Event.select().where(Event.dispatched_at.is_null()).count()


class HeldTimer:
    """Stands in for threading.Timer: remembers what it would run, so a test runs it when it likes."""

    made: list[HeldTimer] = []

    def __init__(self, interval, function):
        self.interval, self.function, self.cancelled, self.daemon = interval, function, False, False
        HeldTimer.made.append(self)

    def start(self):
        pass

    def cancel(self):
        self.cancelled = True


@pytest.fixture
def held_timers(monkeypatch):
    HeldTimer.made = []
    monkeypatch.setattr(dispatch_marks.threading, "Timer", HeldTimer)
    yield HeldTimer.made
    dispatch_marks.write_owed()


def test_marks_wait_for_a_batch_then_are_written_together(client, tenant, listener, held_timers, monkeypatch):
    monkeypatch.setattr(dispatch_marks, "BATCH", 3)
    for _ in range(2):
        assert create(client, tenant).status_code == 201
    assert len(listener.heard) == 2 and undispatched() == 2  # heard at once, marked later
    assert [timer.interval for timer in held_timers] == [1.0]  # one timer for the batch, not one per event
    assert create(client, tenant).status_code == 201
    assert undispatched() == 0 and held_timers[0].cancelled


def test_the_timer_writes_owed_marks_from_its_own_thread(client, tenant, held_timers):
    import threading

    assert create(client, tenant).status_code == 201
    (timer,) = held_timers
    assert undispatched() == 1
    thread = threading.Thread(target=timer.function)  # a thread with no database connection yet
    thread.start()
    thread.join()
    assert undispatched() == 0
    assert dispatch_marks.write_owed() == 0  # nothing is owed twice


def test_the_reconciler_does_not_dispatch_again_what_this_process_owes_marks_for(app, client, tenant, listener,
                                                                             held_timers):
    import datetime as dt

    from herald import chores

    assert create(client, tenant).status_code == 201
    with app.app_context():
        grace = dt.timedelta(seconds=chores.EVENT_DISPATCH_GRACE_SECONDS + 5)
        later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + grace
        with db.connection_context():
            assert chores.redispatch_events(app.extensions["herald"], later) == 0
    assert listener.heard == [(tenant.workspace.id, "post.created")] and undispatched() == 0


def test_a_forked_child_owes_nothing_its_parent_owes(client, tenant, held_timers):
    import os

    assert create(client, tenant).status_code == 201
    child = os.fork()
    if child == 0:
        os._exit(0 if dispatch_marks.pending.ids == [] and dispatch_marks.pending.timer is None else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert dispatch_marks.pending.ids != []  # the parent still owes its mark


def test_on_event_is_called_through_pluggy_so_hook_tracing_sees_it(client, tenant, listener):
    """HERALD_TRACE_PLUGINS logs every hook call with pluggy's hook-call monitoring: on_event included."""
    called = []
    undo = get_plugin_manager().add_hookcall_monitoring(
        lambda hook_name, impls, kwargs: called.append((hook_name, [impl.plugin_name for impl in impls])),
        lambda *args: None)
    try:
        assert create(client, tenant).status_code == 201
    finally:
        undo()
    assert ("on_event", ["listener"]) in called and listener.heard
