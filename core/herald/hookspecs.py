"""Every hook a Herald plugin can implement (pluggy project name ``herald``).

Registration hooks are called once when an application starts; each receives a ``register``
callback and calls it once per object it provides. The core checks every registered object at
start-up (duplicate names and missing methods stop start-up with a clear message).
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("herald")
hookimpl = HookimplMarker("herald")


@hookspec
def register_platforms(register):
    """Register platform publishers by calling ``register(platform)`` once for each.

    Called once at start-up. A platform has ``name`` (``"instagram"``), ``post_types`` (the post
    types it can publish), ``publish(task_context) -> PublishOutcome``, and optionally
    ``check(task_context) -> PublishOutcome`` (asynchronous platforms), ``fetch_metrics(...)`` and
    ``token_health(account)``. The return value is ignored.
    """


@hookspec
def register_ai_providers(register):
    """Register text-generation providers by calling ``register(provider)`` once for each.

    Called once at start-up. A provider has ``name`` and
    ``generate(prompt, *, system, schema, settings) -> Generation``. Providers read their API key
    from the workspace's settings; without one they raise ``HeraldError(code="no_api_key")``.
    The return value is ignored.
    """


@hookspec
def register_scorers(register):
    """Register content-scoring strategies by calling ``register(scorer)`` once for each.

    Called once at start-up. A scorer has ``name`` and ``score(post, context) -> Score`` with a
    value from 0 to 100 and the reasons behind it. The return value is ignored.
    """


@hookspec
def register_webhook_sinks(register):
    """Register places events are delivered to by calling ``register(sink)`` once for each.

    Called once at start-up. A sink has ``name`` and ``deliver(event) -> None`` (it enqueues its
    own jobs for slow work). The return value is ignored.
    """


@hookspec
def register_actions(register):
    """Register actions for ``POST /api/webhooks`` by calling ``register(Action(...))``.

    Called once at start-up. Each :class:`herald.outcomes.Action` has a unique ``name``, a JSON
    Schema (or the name of one in ``schemas/``), the scope it needs and a handler. An action
    answers 403 ``feature_disabled`` in workspaces where its plugin is disabled. The return value
    is ignored.
    """


@hookspec
def register_commands(cli):
    """Add sub-commands to the ``herald`` command: ``cli`` is its click group.

    Called once when the command starts. The return value is ignored.
    """


@hookspec
def on_event(event):
    """Called for every domain event after the change that caused it is committed.

    ``event`` is a :class:`herald.events.DomainEvent` (``id``, ``type`` such as ``post.created``,
    ``workspace_id``, ``data``, ``created_at``). Every implementation is called (a broadcast);
    return values are ignored, and an exception in one implementation is logged without stopping
    the others.
    """
