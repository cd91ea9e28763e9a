"""Domain events: written as rows with the change that causes them, dispatched after commit.

Call :func:`record` inside the transaction that makes the change; wrap the transaction in
:func:`collecting` and call :func:`dispatch` with what it collected once the transaction has
committed. Every ``on_event`` implementation is called; one that raises is logged and the others
still run. An event's type must be in the catalogue :data:`herald.event_types.EVENT_TYPES` (the
core's types and those plugins declare); any other is refused.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import logging
from typing import Any

from ..db.models import Event, isoformat, plugin_enabled
from ..db.prepared_statements import PreparedInsert
from ..event_types import EVENT_TYPES
from ..plugins import is_builtin
from . import dispatch_marks

log = logging.getLogger("herald.events")

# Every write request records one (see herald.db.prepared_statements for the figures).
_insert_event = PreparedInsert(Event)
_pending: contextvars.ContextVar[list | None] = contextvars.ContextVar("herald_pending_events", default=None)


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    """What ``on_event`` receives."""

    id: int
    type: str
    workspace_id: int
    data: dict[str, Any]
    created_at: dt.datetime

    def to_dict(self) -> dict:
        """The event as JSON-ready data (``{"type", "timestamp", "data"}`` plus ids)."""
        return {"id": self.id, "type": self.type, "workspace_id": self.workspace_id,
                "timestamp": isoformat(self.created_at), "data": self.data}


def record(workspace_id: int, event_type: str, data: dict) -> DomainEvent:
    """Write an event row (inside the caller's transaction) and queue it for dispatch.

    Its ``created_at`` is the row default: the runtime's clock, bound with the database.
    """
    _check_type(event_type)
    row = _insert_event(workspace=workspace_id, type=event_type, data=data)
    event = DomainEvent(row.id, event_type, workspace_id, data, row.created_at)
    _queue([event])
    return event


def record_many(event_type: str, items: list[tuple[int, dict]]) -> list[DomainEvent]:
    """Write one ``event_type`` row per ``(workspace_id, data)`` in one statement, as :func:`record` does.

    Returns the events in id order. For a job that records many events at once (the engagement pull).
    """
    _check_type(event_type)
    if not items:
        return []
    # RETURNING gives no promise about row order, so each event is built from its own returned row.
    rows = (Event.insert_many([{"workspace": workspace_id, "type": event_type, "data": data}
                               for workspace_id, data in items])
            .returning(Event.id, Event.workspace, Event.data, Event.created_at).execute())
    events = sorted((DomainEvent(row.id, event_type, row.workspace_id, row.data, row.created_at) for row in rows),
                    key=lambda event: event.id)
    _queue(events)
    return events


def _check_type(event_type: str) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}: declare it in herald.event_types, or in the "
                         "plugin's register_event_types")


def _queue(events: list[DomainEvent]) -> None:
    """Hand ``events`` to the enclosing :func:`collecting` block, if any."""
    pending = _pending.get()
    if pending is not None:
        pending.extend(events)


@contextlib.contextmanager
def collecting():
    """Collect the events recorded inside the block; yields the list."""
    events: list[DomainEvent] = []
    token = _pending.set(events)
    try:
        yield events
    finally:
        _pending.reset(token)


def dispatch(pm, events: list[DomainEvent], mark_within: float = 0) -> None:
    """Call every ``on_event`` implementation for each committed event, then mark it dispatched.

    A plugin disabled for the event's workspace does not hear about it (built-in plugins always do).
    With ``mark_within`` (seconds), the mark is deferred and written together with others' within
    that time (:mod:`herald.events.dispatch_marks`): web requests use this to spare a write transaction each.
    """
    if not events:
        return
    impls = pm.hook.on_event.get_hookimpls()
    # One plugin at a time, so that one failing leaves the others called, and through pluggy (a hook
    # caller without the other plugins) rather than impl.function, so that HERALD_TRACE_PLUGINS sees it.
    callers = [(impl, pm.subset_hook_caller("on_event", remove_plugins=[other.plugin for other in impls
                                                                        if other is not impl]))
               for impl in impls]
    for event in events:
        for impl, call in callers:
            if not is_builtin(impl.plugin) and not plugin_enabled(event.workspace_id, impl.plugin_name):
                continue
            try:
                call(event=event)
            except Exception:
                log.exception("on_event of plugin %s failed for event %s (%s)", impl.plugin_name, event.id, event.type)
    ids = [event.id for event in events]
    if mark_within > 0:
        dispatch_marks.defer(ids, mark_within)
    else:
        dispatch_marks.write_now(ids)
