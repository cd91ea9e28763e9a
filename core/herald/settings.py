"""Settings a plugin declares: each read from its ``HERALD_*`` environment variable, with a default.

A plugin declares its settings as :class:`Setting` objects, registers them through
``register_settings`` (so ``herald plugins list`` and the README show them, and a bad value stops
start-up with a clear message) and reads them with :meth:`Setting.value` from the
:class:`herald.config.Config` the core hands it. The core's own settings are fields of ``Config``;
it never reads or names a plugin's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

PREFIX = "HERALD_"


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
