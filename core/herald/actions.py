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
from .db.models import write_transaction
from .errors import ValidationError
from .plugins import check_enabled
from .runtime import Runtime
from .schemas import schema_name

# The action endpoint's events are marked dispatched in batches, at the latest this long after
# (see herald.events.dispatch_marks): one write transaction per request instead of two.
MARK_WITHIN_SECONDS = 1.0


@dataclasses.dataclass
class ActionContext:
    """What a handler gets besides its payload."""

    workspace_id: int
    principal: Principal
    runtime: Runtime

    @property
    def actor(self) -> str:
        """Who is acting, for edit history."""
        return self.principal.label

    def check_platforms(self, platforms: list[str], field: str = "platforms") -> None:
        """400 for a platform no plugin provides; 403 when its plugin is disabled for the workspace."""
        registry = self.runtime.registry
        for index, name in enumerate(platforms):
            registered = registry.platforms.get(name)
            if registered is None:
                available = ", ".join(sorted(registry.platforms)) or "none installed"
                raise ValidationError(f"Unknown platform {name!r}. Available: {available}.",
                                      field=field if len(platforms) == 1 else f"{field}.{index}")
            check_enabled(registry, self.workspace_id, registered.plugin, f"The {name} platform")


def dispatch(runtime: Runtime, principal: Principal, payload: dict) -> tuple[Any, int]:
    """Run the action ``payload["action"]`` for ``principal``; returns ``(body, status)``."""
    name = payload.get("action")
    registered = runtime.registry.actions.get(name) if isinstance(name, str) else None
    if registered is None:
        # Only an unusable request pays for this check: the action's own schema covers the rest.
        runtime.schemas.validate("action_request", payload)
        available = ", ".join(sorted(runtime.registry.actions))
        raise ValidationError(f"Unknown action {name!r}. Available actions: {available}.", field="action")
    action = registered.obj
    principal.require(action.scope)
    check_enabled(runtime.registry, principal.workspace_id, registered.plugin, f"The {name} action")
    runtime.schemas.validate(schema_name(action), payload)
    context = ActionContext(principal.workspace_id, principal, runtime)
    with events.collecting() as recorded:
        if action.transaction:
            with write_transaction():
                result = action.handler(context, payload)
        else:
            result = action.handler(context, payload)
    events.dispatch(runtime.pm, recorded, mark_within=MARK_WITHIN_SECONDS)
    if isinstance(result, tuple):
        return result
    return result, 200
