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

    Called once at start-up. A platform is best a subclass of :class:`herald.sdk.Platform`: it sets
    ``name`` (``"instagram"``, unique across plugins) and ``post_types``, writes ``publish(ctx) ->
    PublishOutcome`` and whichever capabilities it has (``connect``, ``check``, ``reconcile``,
    ``check_post``, ``post_comment``, ``find_comment``, ``token_health``, ``refresh_token``,
    ``publishing_quota``, ``fetch_metrics``); the core calls only the methods a subclass overrides,
    with the arguments the base class's methods document. A duplicate name or a platform without
    ``publish`` stops start-up. The return value is ignored.
    """


@hookspec
def register_ai_providers(register):
    """Register text-generation providers by calling ``register(provider)`` once for each.

    Called once at start-up. A provider has ``name`` (optionally ``default_model``) and
    ``generate(prompt, *, system, schema, settings) -> Generation``, where ``settings`` is a
    :class:`herald.ai.provider.ProviderSettings` (the workspace's decrypted ``api_key``, ``model``,
    ``config``); the core answers ``no_api_key`` itself when the workspace has no key. Optionally
    ``check_settings(settings)``: a free call made before a new key is stored, raising
    ``InvalidApiKey``, ``UnknownModel`` or ``AIUnavailable``. Features call providers only through
    :func:`herald.ai.generate`. The return value is ignored.
    """


@hookspec
def register_scorers(register):
    """Register content-scoring strategies by calling ``register(scorer)`` once for each.

    Called once at start-up. A scorer has ``name`` and ``score(post, context) -> Score``: ``post``
    is a :class:`herald.intelligence.scoring.ScoringPost` (``caption``, ``topic``, ``post_type``,
    ``platforms``, ``client_id``, ``features``), ``context`` a
    :class:`herald.intelligence.scoring.ScoringContext` (``workspace_id``, ``client``,
    ``history()``: the client's past posts with engagement). The :class:`herald.Score` has a value
    from 0 to 100, the reasons behind it and a ``confidence`` (0..1): the combined score is the
    confidence-weighted mean of every enabled scorer's value. The return value is ignored.
    """


@hookspec
def register_webhook_sinks(register):
    """Register places events are delivered to by calling ``register(sink)`` once for each.

    Called once at start-up. A sink has ``name`` and ``deliver(event, runtime) -> None``; the core
    calls ``deliver`` with every committed :class:`herald.events.DomainEvent` and the
    :class:`herald.runtime.Runtime` (through its own
    ``on_event`` implementation, :class:`herald.plugins.SinkDispatcher`), except in workspaces
    where the sink's plugin is disabled. ``deliver`` must be quick (enqueue jobs for slow work)
    and idempotent: the reconciler re-dispatches events whose dispatch never completed, so a sink
    may see an event twice. Durable work a sink creates (the ``http`` sink's deliveries) is a work
    kind (``register_work_kinds``), which the kernel reconciles. The return value of this hook is
    ignored.
    """


@hookspec
def register_work_kinds(register):
    """Register kinds of durable work by calling ``register(kind)`` once for each.

    Called once at start-up. Each kind is a :class:`herald.work.WorkKind` with a unique ``name`` (part
    of its jobs' ids: ``herald-<name>-<row id>-<step>``), a peewee model keeping the work-row contract
    (:class:`herald.work.WorkRow`: ``status``, ``step``, ``due_at``, ``lease_until``, ``attempts``,
    ``state``), a queue, a job timeout, a lease, a :class:`herald.work.RetryPolicy` and the handler
    ``run(runtime, row, mode) -> herald.work.Outcome`` (``mode``: ``run``, ``check`` or ``recover``).
    The kernel claims rows, calls the handler and reconciles every registered kind: a row due later
    than ``HERALD_SCHEDULE_LOOKAHEAD_SECONDS`` stays in the database until the reconciler hands it to
    RQ, finding the rows due soon through the table's index
    ``herald.sdk.storage.active_due_index(model, the kind's active statuses)`` (declare it, with a
    migration, or the reconciler reads the whole table). The return value is ignored.
    """


@hookspec
def register_settings(register):
    """Declare the plugin's settings by calling ``register(setting)`` once for each.

    Called once at start-up. Each is a :class:`herald.settings.Setting` (its ``HERALD_*`` variable,
    default, meaning, whether it is secret, how its text is read); the plugin reads it with
    ``setting.value(config)``. A value that does not parse stops start-up with a message naming the
    variable; ``herald plugins list`` shows each setting and its value (secrets only as set or
    unset). Two plugins may register the same object (a library both use); two different settings
    with one variable stop start-up. The return value is ignored.
    """


@hookspec
def register_error_codes(register):
    """Declare the error codes the plugin's code raises by calling ``register(code, status, meaning)``.

    Called once at start-up. ``code`` is snake_case, ``status`` the HTTP status (400-599) every error
    with that code is answered with, ``meaning`` one sentence (it goes into the README's table and the
    OpenAPI document). A :class:`herald.errors.HeraldError` takes its status from the catalogue
    (:data:`herald.errors.ERROR_CODES`), and one with a code nobody declared cannot be raised, so
    declare each code the plugin raises that the core does not (the core's stay the core's: reuse
    ``validation_error``, ``not_found``, ... as they are). A code the core or another plugin declares
    stops start-up. The return value is ignored.
    """


@hookspec
def register_event_types(register):
    """Declare the event types the plugin records by calling ``register(name, meaning)``.

    Called once at start-up. ``name`` is dotted lower case (``report.delivered``), ``meaning`` one
    sentence. Declared types are accepted by :func:`herald.events.record`, reach every ``on_event``
    and webhook sink, can be subscribed to (``events`` of ``POST /v1/webhooks``) and are listed in the
    README. A type the core or another plugin declares stops start-up. The return value is ignored.
    """


@hookspec
def register_workspace_settings(register):
    """Declare the values the plugin keeps per workspace by calling ``register(setting)`` once for each.

    Called once at start-up. Each is a :class:`herald.settings.WorkspaceSetting` (its name within
    the plugin, its field in ``GET``/``PUT /api/settings``, what it means, whether it is secret, its
    default, the JSON Schema keywords its text must match). The core stores the values per
    workspace (secrets encrypted), shows them in ``GET /api/settings`` (secrets masked) and accepts
    them in ``PUT /api/settings``; an AI provider's plugin gets its ``api_key`` and ``model`` in
    ``ProviderSettings``. Two plugins declaring one field stop start-up. The return value is ignored.
    """


@hookspec
def register_blueprints(register):
    """Add HTTP routes by calling ``register(blueprint)`` once for each Flask blueprint.

    Called once by ``create_app``. Define routes with :func:`herald.web.api.endpoint` so they get
    authentication, scopes, schema validation, Idempotency-Key handling and a place in
    ``/openapi.json``; start each view with ``herald.plugins.require_enabled("<plugin>")`` (or
    decorate it with :func:`herald.plugins.plugin_feature`) so the routes answer 403
    ``feature_disabled`` in workspaces where the plugin is disabled. The return value is ignored.
    """


@hookspec
def register_integration_sections(register):
    """Add sections to the Integrations page by calling ``register(section)`` once for each.

    Called once at start-up. A section is best a subclass of
    :class:`herald.sdk.IntegrationSection`: ``name`` (its anchor and notice prefix), ``title`` and
    ``render(page) -> str`` (its HTML, from the plugin's own template). Its forms are routes the
    plugin registers (``register_blueprints``) with :func:`herald.sdk.web.app_form`, which checks the
    session, the form's CSRF value and the scope, and redirects back to the page with a notice. The
    page shows a section only in workspaces where its plugin is enabled. The return value is ignored.
    """


@hookspec
def register_migrations(register):
    """Declare the plugin's database migrations by calling ``register(name, directory)``.

    Called by ``herald init-db`` (:func:`herald.upgrading.upgrade`), which applies the core's
    migrations first and then each plugin's, in the order registered. ``name`` identifies the
    plugin's migration history (kept in its own table, ``herald_schema_migration_<name>``);
    ``directory`` holds peewee ``playhouse.migrations`` scripts (``0001_initial.py``, ...). The
    return value is ignored.
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

    Called once when the command starts. Make each command with :func:`herald.sdk.console.command`,
    which hands its body the invocation's runtime (:func:`herald.sdk.console.command_runtime`); the
    webhooks plugin's ``herald webhooks list|test|deliveries`` are an example. The return value is ignored.
    """


@hookspec
def on_event(event):
    """Called for every domain event after the change that caused it is committed.

    ``event`` is a :class:`herald.events.DomainEvent` (``id``, ``type`` such as ``post.created``,
    ``workspace_id``, ``data``, ``created_at``). Every implementation is called (a broadcast);
    return values are ignored, and an exception in one implementation is logged without stopping
    the others.
    """
