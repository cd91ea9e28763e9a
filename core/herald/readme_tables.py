"""The README's generated tables: plugin settings, error codes and event types.

``herald docs README.md`` rewrites each section between its markers (``<!-- error-codes:start -->``
… ``<!-- error-codes:end -->``; likewise ``plugin-settings`` and ``event-types``) from what the
loaded plugins declare and the catalogues, :data:`herald.errors.ERROR_CODES` and
:data:`herald.event_types.EVENT_TYPES`; ``--check`` only says whether the file is current (the test
suite runs it). The same markers in ``docs/plugins.md`` hold the SDK's reference
(:mod:`herald.sdk_reference`), which :func:`rewrite_sections` writes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping

from .catalogue import CORE
from .plugins import PluginRegistry

BEGIN = "<!-- {name}:start -->"
END = "<!-- {name}:end -->"


class MissingSection(ValueError):
    """The document lacks the markers of a section."""


def _origin(plugin: str) -> str:
    return "core" if plugin == CORE else f"plugin `{plugin}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_table(registry: PluginRegistry) -> str:
    """The Markdown table of the loaded plugins' settings (variable, plugins, default, meaning)."""
    rows = ["| variable | plugin | default | meaning |", "|---|---|---|---|"]
    declared: dict[str, tuple[object, list[str]]] = {}
    for plugin in registry.plugin_names():
        for setting in registry.settings_of(plugin):
            declared.setdefault(setting.env, (setting, []))[1].append(plugin)
    for env, (setting, plugin_names) in sorted(declared.items()):
        default = f"`{setting.default}`" if setting.default not in ("", None) else "unset"
        rows.append(f"| `{env}` | {', '.join(plugin_names)} | {default} | {setting.meaning} |")
    return "\n".join(rows)


def error_table(registry: PluginRegistry) -> str:
    """The Markdown table of every error code: status, code, meaning, who declares it; by status."""
    rows = ["| status | code | meaning | from |", "|---|---|---|---|"]
    for entry in sorted(registry.error_code_entries(), key=lambda entry: entry.status):
        rows.append(f"| {entry.status} | `{entry.code}` | {_cell(entry.meaning)} | {_origin(entry.plugin)} |")
    return "\n".join(rows)


def event_table(registry: PluginRegistry) -> str:
    """The Markdown table of every event type: name, meaning, who declares it."""
    rows = ["| event | meaning | from |", "|---|---|---|"]
    for entry in registry.event_type_entries():
        rows.append(f"| `{entry.name}` | {_cell(entry.meaning)} | {_origin(entry.plugin)} |")
    return "\n".join(rows)


SECTIONS = {"plugin-settings": settings_table, "error-codes": error_table, "event-types": event_table}


def rewrite(text: str, registry: PluginRegistry) -> str:
    """``text`` with every section between its markers written afresh from ``registry`` and the catalogues."""
    return rewrite_sections(text, {name: functools.partial(table, registry) for name, table in SECTIONS.items()})


def has_section(text: str, name: str) -> bool:
    """Whether ``text`` has the start marker of section ``name``."""
    return BEGIN.format(name=name) in text


def rewrite_sections(text: str, sections: Mapping[str, Callable[[], str]]) -> str:
    """``text`` with each of ``sections`` (name: what writes it) written afresh between its markers;
    :class:`MissingSection` when one is missing."""
    for name, write in sections.items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise MissingSection(f"the document has no section {begin} … {end}")
        section = f"{begin}\n{write()}\n{end}"
        text = pattern.sub(lambda _match, section=section: section, text, count=1)
    return text
