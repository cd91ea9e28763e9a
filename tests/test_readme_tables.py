"""The README's generated tables (plugin settings, error codes, event types) are written by ``herald
docs``, and the README in the tree is current."""

from __future__ import annotations

import configparser
from pathlib import Path

from click.testing import CliRunner

from herald.cli import cli
from herald.errors import ERROR_CODES
from herald.plugins import PluginRegistry, get_plugin_manager
from herald.readme_tables import error_table, event_table, settings_table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def shipped_plugins() -> tuple[str, ...]:
    """The plugins this repository ships (plugins/*/setup.cfg's entry points): the README documents
    them, not other installed ones (a developer's own)."""
    names = []
    for setup in sorted(ROOT.glob("plugins/*/setup.cfg")):
        parser = configparser.ConfigParser()
        parser.read(setup)
        if parser.has_option("options.entry_points", "herald"):
            names += [line.split("=")[0].strip() for line in parser["options.entry_points"]["herald"].splitlines()
                      if line.strip()]
    return tuple(sorted(names))


def docs(*args):
    return CliRunner().invoke(cli, ["docs", *map(str, args)], env={"HERALD_PLUGINS": ",".join(shipped_plugins())})


def test_the_readme_is_current():
    result = docs("--check", README)
    assert result.exit_code == 0, result.output
    registry = PluginRegistry(get_plugin_manager(shipped_plugins()))
    text = README.read_text(encoding="utf-8")
    for table in (settings_table, error_table, event_table):
        assert f":start -->\n{table(registry)}\n<!-- " in text, table.__name__
    assert "| 503 | `database_unavailable` |" in text
    assert "| `webhook.disabled` | " in text and "| plugin `webhooks` |" in text


def test_a_table_out_of_date_is_found_and_rewritten(tmp_path):
    copy = tmp_path / "README.md"
    current = README.read_text(encoding="utf-8")
    meaning = ERROR_CODES["idempotency_conflict"].meaning
    copy.write_text(current.replace(meaning, "Something else."), encoding="utf-8")
    result = docs("--check", copy)
    assert result.exit_code == 1 and "not current" in result.output
    assert "Something else." in copy.read_text(encoding="utf-8")
    result = docs(copy)
    assert result.exit_code == 0 and "rewritten" in result.output
    assert copy.read_text(encoding="utf-8") == current


def test_a_document_without_the_markers_is_refused(tmp_path):
    copy = tmp_path / "README.md"
    copy.write_text("# Nothing to write here\n", encoding="utf-8")
    result = docs(copy)
    assert result.exit_code == 1 and "no section <!-- plugin-settings:start -->" in result.output
