"""Settings a plugin declares: server-wide ones (:class:`Setting`), each read from its ``HERALD_*``
environment variable with a default, and per-workspace ones (:class:`WorkspaceSetting`), which a
workspace's admin sets with ``PUT /api/settings``.

A plugin declares its settings as :class:`Setting` objects, registers them through
``register_settings`` (so ``herald plugins list`` and the README show them, and a bad value stops
start-up with a clear message) and reads them with :meth:`Setting.value` from the
:class:`herald.config.Config` the core hands it. The core's own settings are fields of ``Config``;
it never reads or names a plugin's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

PREFIX = "HERALD_"
# Names of the answer of GET /api/settings that no declared field may take.
RESERVED_FIELDS = frozenset({"ai_provider", "updated_at", "warnings"})
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: its environment variable, default, what it means, and how its text is read.

    ``secret`` settings are never shown (``herald plugins list`` prints ``set``/``unset``). ``parse``
    turns the variable's text into the value and raises ``ValueError`` (with a sentence) for a bad one.
    """

    env: str
    default: Any
    meaning: str
    secret: bool = False
    parse: Callable[[str], Any] = str

    def __post_init__(self):
        if not self.env.startswith(PREFIX) or self.env != self.env.upper():
            raise ValueError(f"a setting's variable is HERALD_ and capitals, not {self.env!r}")

    @property
    def name(self) -> str:
        """The variable's name without ``HERALD_``, in lower case (``graph_base_url``): the key of
        :attr:`herald.config.Config.plugin_settings`."""
        return self.env[len(PREFIX):].lower()

    def value(self, config: Any) -> Any:
        """The setting's value in ``config``: given to ``Config`` directly, else read from the
        environment it was built from, else the default."""
        if self.name in config.plugin_settings:
            return config.plugin_settings[self.name]
        text = config.environment.get(self.env, "")
        if not text.strip():
            return self.default
        try:
            return self.parse(text.strip())
        except ValueError as exc:
            raise ValueError(f"{self.env}={text!r} is not valid: {exc}") from None

    def shown(self, config: Any) -> str:
        """The value as ``herald plugins list`` prints it (a secret only as set or unset)."""
        value = self.value(config)
        if self.secret:
            return "set" if value else "unset"
        return str(value)


@dataclasses.dataclass(frozen=True)
class WorkspaceSetting:
    """A value a plugin keeps per workspace (an API key, a chosen model), declared through
    ``register_workspace_settings`` and set by the workspace's admins with ``PUT /api/settings``.

    ``name`` is the value's name within the plugin (``api_key``: the core's store is keyed by
    workspace, plugin and name); ``field`` its field in ``GET``/``PUT /api/settings``
    (``acme_api_key``), unique across plugins. Values are text: ``schema`` holds the JSON Schema
    keywords of strings the text must match (``maxLength``, ``pattern``, ``format``; ``errorMessage``
    words the refusal), which leave ``null`` alone: ``null`` (or an empty string) clears the value.
    A ``secret`` is stored encrypted with the server's secret key and only ever shown masked
    (``AIza…x9Q2``, with ``<field>_set``); any other value is shown as stored, or ``default`` when
    none is (with ``<field>_is_default``). A value never set reaches the plugin as None.

    An AI provider's plugin declares ``api_key`` (secret) and, if it has models, ``model``: the core
    hands their values to the provider as ``ProviderSettings.api_key`` and ``.model`` (every value
    the plugin declares is in ``ProviderSettings.values``), and answers ``no_api_key`` naming
    ``field`` when the workspace stored no key.
    """

    name: str
    field: str
    meaning: str
    secret: bool = False
    default: str | None = None
    schema: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self):
        for what, text in (("name", self.name), ("field", self.field)):
            if not _IDENTIFIER.match(text):
                raise ValueError(f"a workspace setting's {what} is lower case letters, digits and '_', not {text!r}")
        if self.field in RESERVED_FIELDS:
            raise ValueError(f"{self.field!r} is a field of GET /api/settings already; choose another field")
        if self.secret and self.default is not None:
            raise ValueError(f"the secret workspace setting {self.field!r} cannot have a default")

    def property_schema(self) -> dict[str, Any]:
        """The field's JSON Schema in ``PUT /api/settings``: text matching ``schema``, or null to clear it."""
        return {"type": ["string", "null"], **self.schema, "description": self.meaning}
