"""The plugin manager: loads plugins from the ``herald`` entry-point group and collects what they
register.

Built-in plugins (modules under ``herald.default_plugins``) are registered through the same
entry-point group as third-party ones and always load; ``HERALD_PLUGINS=a,b`` restricts which of
the others load. ``HERALD_TRACE_PLUGINS=1`` logs every hook call.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pluggy
from flask import Blueprint, current_app, g

from . import hookspecs
from .capabilities import is_placeholder, placeholder
from .catalogue import CORE as CORE_OWNER
from .catalogue import Catalogue, CatalogueConflict, ErrorCode, EventType
from .db.models import plugin_enabled
from .errors import ERROR_CODES, FeatureDisabled
from .event_types import EVENT_TYPES
from .outcomes import Action

if TYPE_CHECKING:  # runtime.py builds on this module
    from .runtime import Runtime

log = logging.getLogger("herald.plugins")

BUILTIN_PREFIX = "herald.default_plugins"

_managers: dict[tuple[str, ...] | None, pluggy.PluginManager] = {}
# plugin name -> the distribution that installed it (for versions in `herald plugins`)
_distributions: dict[str, Any] = {}


class PluginError(RuntimeError):
    """A plugin registered something invalid; raised at start-up, never at request time."""


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with Herald's hookspecs and no plugins."""
    pm = pluggy.PluginManager("herald")
    pm.add_hookspecs(hookspecs)
    return pm


def is_builtin(plugin: Any) -> bool:
    """Whether ``plugin`` (a module or object) is one of Herald's built-in plugins."""
    if isinstance(plugin, SinkDispatcher):
        return True
    name = getattr(plugin, "__name__", None) or type(plugin).__module__
    return name.startswith(BUILTIN_PREFIX)


def get_plugin_manager(only: tuple[str, ...] | None = None, trace: bool = False) -> pluggy.PluginManager:
    """The process-wide plugin manager, loading entry points on first use.

    ``only`` names the non-built-in plugins to load (``HERALD_PLUGINS``); ``None`` loads all.
    Tests register throwaway plugins on the returned manager and unregister them afterwards.
    """
    if only in _managers:
        return _managers[only]
    pm = new_plugin_manager()
    for ep in entry_points(group="herald"):
        builtin = ep.value.startswith(BUILTIN_PREFIX)
        if not builtin and only is not None and ep.name not in only:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        pm.register(ep.load(), name=ep.name)
        _distributions[ep.name] = ep.dist
    if only is not None:
        missing = set(only) - {name for name, _ in pm.list_name_plugin()}
        if missing:
            raise PluginError(f"HERALD_PLUGINS names plugins that are not installed: {', '.join(sorted(missing))}")
    pm.check_pending()
    if trace:
        def before(hook_name, hook_impls, kwargs):
            log.warning("hook %s -> %s", hook_name, [impl.plugin_name for impl in hook_impls])
        pm.add_hookcall_monitoring(before, lambda *args: None)
    _managers[only] = pm
    return pm


@dataclasses.dataclass(frozen=True)
class Registered:
    """An object a plugin registered, with the name of the plugin that registered it."""

    plugin: str
    obj: Any


# hook name -> (attributes every registered object must have, what the objects are called); the
# objects are told apart by ``name``, except where _KEYS names another attribute.
_REQUIRED = {
    "register_platforms": (("name", "post_types", "publish"), "platform"),
    "register_ai_providers": (("name", "generate"), "AI provider"),
    "register_scorers": (("name", "score"), "scorer"),
    "register_webhook_sinks": (("name", "deliver"), "webhook sink"),
    "register_actions": (("name", "handler", "schema"), "action"),
    "register_integration_sections": (("name", "title", "render"), "integration section"),
    "register_work_kinds": (("name", "model", "run", "statuses", "retry", "lease_seconds"), "work kind"),
    "register_settings": (("env", "default", "meaning", "value"), "setting"),
    "register_workspace_settings": (("name", "field", "meaning", "secret", "default", "property_schema"),
                                    "workspace setting"),
}
_KEYS = {"register_workspace_settings": "field"}


class PluginRegistry:
    """Everything the loaded plugins registered, checked once at start-up."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.platforms = self._collect("register_platforms")
        self.ai_providers = self._collect("register_ai_providers")
        self.scorers = self._collect("register_scorers")
        self.webhook_sinks = self._collect("register_webhook_sinks")
        self.actions = self._collect("register_actions")
        self.work_kinds = self._collect("register_work_kinds")
        setting_calls = self._calls("register_settings")
        self.settings = self._collect("register_settings", setting_calls)
        # (plugin, setting) for every registration: a setting two plugins share is under each of them
        self._settings_by_plugin = [(plugin, args[0]) for plugin, args, _ in setting_calls]
        self.error_codes = self._declare("register_error_codes", ERROR_CODES, ErrorCode)
        self.event_types = self._declare("register_event_types", EVENT_TYPES, EventType)
        self.workspace_settings = self._collect("register_workspace_settings")
        self.integration_sections = self._collect("register_integration_sections")
        self._check_workspace_setting_names()
        for registered in self.actions.values():
            if not isinstance(registered.obj, Action):
                raise PluginError(f"plugin {registered.plugin!r} registered an action that is not a herald.Action")

    def _calls(self, hook_name: str) -> list[tuple[str, tuple, dict]]:
        """Call ``hook_name`` on each plugin in turn with a ``register`` callback; every call made, as
        ``(plugin, args, kwargs)``. One plugin at a time, so each call is known to be that plugin's, and
        through pluggy rather than ``impl.function``, so that HERALD_TRACE_PLUGINS sees it."""
        calls: list[tuple[str, tuple, dict]] = []
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        for impl in impls:
            def register(*args, _plugin=impl.plugin_name, **kwargs):
                calls.append((_plugin, args, kwargs))

            others = [other.plugin for other in impls if other is not impl]
            self.pm.subset_hook_caller(hook_name, remove_plugins=others)(register=register)
        return calls

    def _collect(self, hook_name: str, calls: list | None = None) -> dict[str, Registered]:
        """What plugins registered with ``hook_name`` (or in ``calls`` of it), by name, checked: the
        required attributes there, no two objects of one name (the same object twice is one)."""
        required, noun = _REQUIRED[hook_name]
        key = _KEYS.get(hook_name, "name")
        found: dict[str, Registered] = {}
        for plugin, args, kwargs in self._calls(hook_name) if calls is None else calls:
            if len(args) != 1 or kwargs:
                raise PluginError(f"plugin {plugin!r} called register with other than one {noun}")
            obj = args[0]
            missing = [attr for attr in required if not hasattr(obj, attr) or is_placeholder(getattr(obj, attr))]
            if missing:
                raise PluginError(f"plugin {plugin!r} registered a {noun} without {', '.join(missing)}")
            name = getattr(obj, key)
            if name in found and found[name].obj is obj:
                continue  # the same object from a second plugin (a library both use, its settings)
            if name in found:
                raise PluginError(f"{noun} {name!r} is registered twice: by {found[name].plugin!r} and {plugin!r}")
            found[name] = Registered(plugin, obj)
        return found

    def _declare(self, hook_name: str, catalogue: Catalogue, make) -> dict[str, Registered]:
        """Collect what plugins declare with ``hook_name`` (``register(*args)`` makes ``make(*args,
        plugin=...)``), refuse a name the core or two plugins declare, and add the rest to ``catalogue``."""
        found: dict[str, Registered] = {}
        for plugin, args, kwargs in self._calls(hook_name):
            try:
                entry = make(*args, plugin=plugin, **kwargs)
            except (CatalogueConflict, TypeError) as exc:
                raise PluginError(f"plugin {plugin!r} declared an invalid {catalogue.noun}: {exc}") from None
            known = catalogue.get(entry.name)
            if known is not None and known.plugin == CORE_OWNER:
                raise PluginError(f"plugin {plugin!r} declares the {catalogue.noun} {entry.name!r}, which is "
                                  "the core's")
            if entry.name in found:
                raise PluginError(f"{catalogue.noun} {entry.name!r} is declared twice: by "
                                  f"{found[entry.name].plugin!r} and {plugin!r}")
            found[entry.name] = Registered(plugin, entry)
        for registered in found.values():
            try:
                catalogue.add(registered.obj)
            except CatalogueConflict as exc:
                raise PluginError(str(exc)) from None
        return found

    def error_code_entries(self) -> list[ErrorCode]:
        """The error codes of this registry: the core's, then those its plugins declared."""
        return _core_entries(ERROR_CODES) + [registered.obj for registered in self.error_codes.values()]

    def event_type_entries(self) -> list[EventType]:
        """The event types of this registry: the core's, then those its plugins declared."""
        return _core_entries(EVENT_TYPES) + [registered.obj for registered in self.event_types.values()]

    def event_type_names(self) -> list[str]:
        """The names of :meth:`event_type_entries` (what a webhook endpoint can subscribe to)."""
        return [entry.name for entry in self.event_type_entries()]

    def ai_provider(self, name: str | None) -> Registered | None:
        """The AI provider every workspace uses: the one ``name`` (``HERALD_AI_PROVIDER``) names, else
        the only one loaded, else the first by name; None when none is loaded.

        :class:`PluginError` when ``name`` names no loaded provider (``Runtime.build`` asks once, so a
        typo stops start-up).
        """
        if name:
            if name not in self.ai_providers:
                loaded = ", ".join(sorted(self.ai_providers)) or "none"
                left_out = self.left_out_implementing("register_ai_providers")
                hint = (f"; the installed plugins {', '.join(left_out)} provide AI but HERALD_PLUGINS leaves them "
                        "out" if left_out else "")
                raise PluginError(f"HERALD_AI_PROVIDER={name!r} names no loaded AI provider (loaded: {loaded}{hint}). "
                                  "Set it to a loaded provider's name, or unset it to use the only (or first) one.")
            return self.ai_providers[name]
        if not self.ai_providers:
            return None
        return self.ai_providers[sorted(self.ai_providers)[0]]

    def _check_workspace_setting_names(self) -> None:
        seen: dict[tuple[str, str], str] = {}
        for field, registered in self.workspace_settings.items():
            key = (registered.plugin, registered.obj.name)
            if key in seen:
                raise PluginError(f"plugin {registered.plugin!r} declares the workspace setting "
                                  f"{registered.obj.name!r} twice (fields {seen[key]!r} and {field!r})")
            seen[key] = field

    def workspace_settings_of(self, plugin_name: str) -> dict[str, Any]:
        """The workspace settings ``plugin_name`` declared (:class:`herald.settings.WorkspaceSetting`), by name."""
        return {reg.obj.name: reg.obj for reg in self.workspace_settings.values() if reg.plugin == plugin_name}

    def plugin_names(self) -> list[str]:
        """Names of every loaded plugin, sorted (the core's own sink dispatcher is not one)."""
        return sorted(name for name, plugin in self.pm.list_name_plugin()
                      if plugin is not None and not isinstance(plugin, SinkDispatcher))

    def left_out(self) -> list[str]:
        """Names of the installed plugins that were not loaded (``HERALD_PLUGINS`` leaves them out), sorted."""
        loaded = set(self.plugin_names())
        return sorted({ep.name for ep in entry_points(group="herald")} - loaded)

    def left_out_implementing(self, hook_name: str) -> list[str]:
        """The left-out plugins (:meth:`left_out`) that implement ``hook_name``, sorted: what an operator
        would load to get, say, an AI provider. Their modules are imported to be asked, never registered
        where the running server sees them; one that cannot even be imported is not counted."""
        left_out = set(self.left_out())
        pm = new_plugin_manager()
        for ep in entry_points(group="herald"):
            if ep.name in left_out and pm.get_plugin(ep.name) is None:
                try:
                    pm.register(ep.load(), name=ep.name)
                except Exception:  # a broken plugin the operator may have left out for that reason
                    log.warning("plugin %s could not be loaded to see what it provides", ep.name, exc_info=True)
        return sorted({impl.plugin_name for impl in getattr(pm.hook, hook_name).get_hookimpls()})

    def check_settings(self, config) -> None:
        """Read every registered setting from ``config`` once: a value that does not parse stops
        start-up here (:class:`PluginError` naming the variable), not at its first use."""
        for registered in self.settings.values():
            try:
                registered.obj.value(config)
            except ValueError as exc:
                raise PluginError(f"plugin {registered.plugin!r}: {exc}") from None

    def settings_of(self, plugin_name: str) -> list:
        """The settings ``plugin_name`` registered (:class:`herald.settings.Setting`), by variable."""
        return sorted((setting for plugin, setting in self._settings_by_plugin if plugin == plugin_name),
                      key=lambda setting: setting.env)

    def blueprints(self) -> list[Registered]:
        """The Flask blueprints plugins registered (``register_blueprints``), checked once."""
        found: list[Registered] = []
        for plugin_name, (obj,), _ in self._calls("register_blueprints"):
            if not isinstance(obj, Blueprint):
                raise PluginError(f"plugin {plugin_name!r} registered a blueprint that is not a flask.Blueprint")
            found.append(Registered(plugin_name, obj))
        return found

    def migrations(self) -> list[tuple[str, Path]]:
        """``(name, directory)`` of every plugin's migrations (``register_migrations``), checked once."""
        found: dict[str, Path] = {}
        for plugin_name, (name, directory), _ in self._calls("register_migrations"):
            directory = Path(directory)
            if not directory.is_dir():
                raise PluginError(f"plugin {plugin_name!r} registered migrations in {directory}: not a directory")
            if name in found:
                raise PluginError(f"migrations {name!r} are registered twice")
            found[name] = directory
        return list(found.items())

    def is_builtin(self, plugin_name: str) -> bool:
        """Whether the named plugin is built into Herald (it cannot be disabled)."""
        return is_builtin(self.pm.get_plugin(plugin_name))

    def describe(self) -> list[dict]:
        """Each plugin's name, version, hooks and what it registered (for ``herald plugins``)."""
        rows = []
        for name in self.plugin_names():
            plugin = self.pm.get_plugin(name)
            dist = _distributions.get(name)
            provides = {
                kind: sorted(key for key, reg in getattr(self, kind).items() if reg.plugin == name)
                for kind in ("platforms", "ai_providers", "scorers", "webhook_sinks", "actions",
                             "work_kinds", "settings", "error_codes", "event_types", "workspace_settings")
            }
            rows.append({
                "name": name,
                "version": dist.version if dist is not None else None,
                "builtin": is_builtin(plugin),
                "hooks": sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or []),
                "provides": {kind: names for kind, names in provides.items() if names},
            })
        return rows


def _core_entries(catalogue: Catalogue) -> list:
    return [entry for entry in catalogue.entries() if entry.plugin == CORE_OWNER]


class WebhookSink:
    """Base class of a place events are delivered to: subclass it, set ``name``, write ``deliver``."""

    #: The sink's name (``"http"``).
    name: ClassVar[str] = ""

    @placeholder
    def deliver(self, event, runtime: Runtime) -> None:
        """Take one committed :class:`herald.events.DomainEvent` (required).

        Be quick (enqueue work kinds for slow work) and idempotent: the reconciler re-dispatches
        events whose dispatch never completed, so a sink may see an event twice.
        """
        raise NotImplementedError


class SinkDispatcher:
    """The core's ``on_event`` implementation: hands every committed event to the webhook sinks.

    Registered by :meth:`herald.runtime.Runtime.build` (one per plugin manager, pointed at the newest
    runtime and its registry). A sink whose plugin is disabled for the event's workspace is skipped;
    one that raises is logged and the others still run.
    """

    NAME = "herald.sink_dispatcher"

    def __init__(self, registry: PluginRegistry, runtime: Runtime | None = None):
        self.registry = registry
        self.runtime = runtime  # handed to the sinks

    @hookspecs.hookimpl
    def on_event(self, event):
        """Call ``deliver(event, runtime)`` on every sink enabled for the event's workspace."""
        for name, registered in self.registry.webhook_sinks.items():
            if not self.registry.is_builtin(registered.plugin) and not plugin_enabled(event.workspace_id,
                                                                                      registered.plugin):
                continue
            try:
                registered.obj.deliver(event, self.runtime)
            except Exception:
                log.exception("webhook sink %s failed for event %s (%s)", name, event.id, event.type)


def install_sink_dispatcher(pm: pluggy.PluginManager, registry: PluginRegistry, runtime: Runtime) -> SinkDispatcher:
    """Register (or re-point) the :class:`SinkDispatcher` of ``pm`` at ``runtime`` and its ``registry``."""
    dispatcher = pm.get_plugin(SinkDispatcher.NAME)
    if dispatcher is None:
        dispatcher = SinkDispatcher(registry, runtime)
        pm.register(dispatcher, name=SinkDispatcher.NAME)
    dispatcher.registry = registry
    dispatcher.runtime = runtime
    return dispatcher


def require_enabled(plugin_name: str, what: str = "This feature") -> None:
    """Raise 403 ``feature_disabled`` when ``plugin_name`` is disabled for the calling workspace.

    One line at the top of a plugin's view (after :func:`herald.web.api.endpoint` authenticated it).
    """
    check_enabled(current_app.extensions["herald"].registry, g.principal.workspace_id, plugin_name, what)


def plugin_feature(plugin_name: str, what: str = "This feature"):
    """Decorator form of :func:`require_enabled` for a plugin's view functions."""

    def decorate(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            require_enabled(plugin_name, what)
            return view(*args, **kwargs)

        return checked

    return decorate


def check_enabled(registry: PluginRegistry, workspace_id: int, plugin_name: str, what: str) -> None:
    """Raise 403 ``feature_disabled`` when ``plugin_name`` is disabled for the workspace."""
    if registry.is_builtin(plugin_name):
        return
    if not plugin_enabled(workspace_id, plugin_name):
        raise FeatureDisabled(
            f"{what} is provided by the plugin {plugin_name!r}, which is disabled for this workspace. "
            f"An admin of the workspace enables it with PUT /api/admin/plugins/{plugin_name} "
            f"{{\"enabled\": true}}; an operator with `herald plugins enable {workspace_id} {plugin_name}`.")
