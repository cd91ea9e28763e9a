"""Domain events reach on_event after commit, only for plugins enabled in the event's workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald import events, hookimpl
from herald.db.models import Event, db, set_plugin_enabled
from herald.event_types import CORE_EVENT_TYPES, EVENT_TYPES, event_types
from herald.events import dispatch_marks
from herald.plugins import PluginError, PluginRegistry, get_plugin_manager, new_plugin_manager


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
def listener(register_plugin):
    return register_plugin(Listener(), "listener")


@pytest.fixture
def app(build_app, listener):
    return build_app()


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


def test_every_event_type_can_be_subscribed_to_and_is_documented(app):
    """The webhook schemas accept exactly the catalogued types (the core's and the loaded plugins'), the
    README's table lists them all, and docs/plugins.md points at it."""
    root = Path(__file__).resolve().parents[1]
    runtime = app.extensions["herald"]
    names = runtime.registry.event_type_names()
    assert names[:len(CORE_EVENT_TYPES)] == [entry.name for entry in CORE_EVENT_TYPES]
    assert "webhook.disabled" in names and "webhook.disabled" not in [entry.name for entry in CORE_EVENT_TYPES]
    for name in ("webhook_create", "webhook_update"):
        assert runtime.schemas.schemas[name]["properties"]["events"]["items"] == {"type": "string", "enum": names}
    readme = (root / "README.md").read_text()
    missing = [kind for kind in names if f"| `{kind}` |" not in readme]
    assert not missing, f"README.md does not list {missing}"
    assert "register_event_types" in (root / "docs" / "plugins.md").read_text()


def test_webhook_disabled_is_the_webhooks_plugins_type():
    assert EVENT_TYPES["webhook.disabled"].plugin == "webhooks"
    registry = PluginRegistry(get_plugin_manager())
    assert registry.event_types["webhook.disabled"].plugin == "webhooks"
    assert "webhook.disabled" in event_types()
    source = Path(events.__file__).resolve().parents[1]
    assert not [path for path in source.rglob("*.py") if "webhook.disabled" in path.read_text(encoding="utf-8")]


def test_an_event_type_nobody_declared_is_refused():
    with pytest.raises(ValueError, match="unknown event type 'catalogue_test.never'"):
        events.record(1, "catalogue_test.never", {})


class DeclaresEvents:
    def __init__(self, *declarations):
        self.declarations = declarations

    @hookimpl
    def register_event_types(self, register):
        for declaration in self.declarations:
            register(*declaration)


@pytest.mark.parametrize("declarations, message", [
    ([("post.created", "Mine now.")], "'post.created', which is the core's"),
    ([("catalogue_test.twice", "One.")] * 2, "declared twice"),
    ([("NotDotted", "No dot.")], "not dotted lower case"),
    ([("catalogue_test.bare", "")], "needs a meaning"),
])
def test_a_plugin_cannot_take_a_core_type_declare_one_twice_or_a_malformed_one(declarations, message):
    pm = new_plugin_manager()
    for number, declaration in enumerate(declarations):
        pm.register(DeclaresEvents(declaration), name=f"declares_{number}")
    with pytest.raises(PluginError, match=message):
        PluginRegistry(pm)
    assert "catalogue_test.twice" not in EVENT_TYPES


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
