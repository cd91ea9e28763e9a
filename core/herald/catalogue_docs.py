"""The README's tables of error codes and event types, written from the catalogues.

``herald docs README.md`` rewrites each section between its markers (``<!-- herald docs: error-codes
-->`` … ``<!-- end herald docs: error-codes -->``, likewise ``event-types``) from
:data:`herald.errors.ERROR_CODES` and :data:`herald.event_types.EVENT_TYPES` as the loaded plugins
extend them; ``--check`` only says whether the file is current (the test suite runs it).
"""

from __future__ import annotations

import re

from .plugins import PluginRegistry

BEGIN = "<!-- herald docs: {name} -->"
END = "<!-- end herald docs: {name} -->"


class MissingSection(ValueError):
    """The document lacks the markers of a section."""


def _origin(plugin: str) -> str:
    return "core" if plugin == "herald" else f"plugin `{plugin}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


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


SECTIONS = {"error-codes": error_table, "event-types": event_table}


def rewrite(text: str, registry: PluginRegistry) -> str:
    """``text`` with every section between its markers written afresh from the catalogues."""
    for name, table in SECTIONS.items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise MissingSection(f"the document has no section {begin} … {end}")
        section = f"{begin}\n{table(registry)}\n{end}"
        text = pattern.sub(lambda _match, section=section: section, text, count=1)
    return text
