"""The action registry and dispatcher behind ``POST /api/webhooks``.

Core actions and plugin actions are registered the same way (``register_actions``). Dispatch
checks, in order: the action exists, the caller has its scope, its plugin is enabled for the
workspace, and the payload matches its schema; then the handler runs in one transaction (or opens
its own, see ``Action.transaction``), and the events it recorded are dispatched after commit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import events
from .auth import Principal
from .errors import ValidationError
from .models import write_transaction
from .plugins import check_enabled

# The action endpoint's events are marked dispatched in batches, at the latest this long after
# (see herald.event_dispatch_marks): one write transaction per request instead of two.
MARK_WITHIN_SECONDS = 1.0


@dataclasses.dataclass
class ActionContext:
    """What a handler gets besides its payload."""

    workspace_id: int
    principal: Principal
    state: Any  # herald.app.HeraldState

    @property
    def actor(self) -> str:
        """Who is acting, for edit history."""
        return self.principal.label

    def check_platforms(self, platforms: list[str], field: str = "platforms") -> None:
        """400 for a platform no plugin provides; 403 when its plugin is disabled for the workspace."""
        registry = self.state.registry
        for index, name in enumerate(platforms):
            registered = registry.platforms.get(name)
            if registered is None:
                available = ", ".join(sorted(registry.platforms)) or "none installed"
                raise ValidationError(f"Unknown platform {name!r}. Available: {available}.",
                                      field=field if len(platforms) == 1 else f"{field}.{index}")
            check_enabled(registry, self.workspace_id, registered.plugin, f"The {name} platform")


def schema_name(action) -> str:
    """The name the action's schema is stored under in the schema store."""
    return action.schema if isinstance(action.schema, str) else f"action:{action.name}"


def add_action_schemas(registry, schemas) -> None:
    """Compile the inline schemas of plugin actions; check that named ones exist."""
    for registered in registry.actions.values():
        action = registered.obj
        if isinstance(action.schema, dict):
            schemas.add(schema_name(action), action.schema)
        elif action.schema not in schemas.schemas:
            raise RuntimeError(f"action {action.name!r} of plugin {registered.plugin!r} names a schema "
                               f"{action.schema!r} that is not in schemas/")


def dispatch(state, principal: Principal, payload: dict) -> tuple[Any, int]:
    """Run the action ``payload["action"]`` for ``principal``; returns ``(body, status)``."""
    name = payload.get("action")
    registered = state.registry.actions.get(name) if isinstance(name, str) else None
    if registered is None:
        # Only an unusable request pays for this check: the action's own schema covers the rest.
        state.schemas.validate("action_request", payload)
        available = ", ".join(sorted(state.registry.actions))
        raise ValidationError(f"Unknown action {name!r}. Available actions: {available}.", field="action")
    action = registered.obj
    principal.require(action.scope)
    check_enabled(state.registry, principal.workspace_id, registered.plugin, f"The {name} action")
    state.schemas.validate(schema_name(action), payload)
    context = ActionContext(principal.workspace_id, principal, state)
    with events.collecting() as recorded:
        if action.transaction:
            with write_transaction():
                result = action.handler(context, payload)
        else:
            result = action.handler(context, payload)
    events.dispatch(state.pm, recorded, mark_within=MARK_WITHIN_SECONDS)
    if isinstance(result, tuple):
        return result
    return result, 200
