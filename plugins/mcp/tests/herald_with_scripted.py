"""The ``herald`` command with the suite's scripted platform (``tests/scripted_platform.py``) loaded as an
installed plugin would be: the stdio tests run ``herald mcp`` with it in a subprocess, so that the
assistant can schedule a post to an account of a platform that needs no network."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from herald.cli import main  # noqa: E402
from herald.config import Config  # noqa: E402
from herald.plugins import get_plugin_manager  # noqa: E402
from scripted_platform import ScriptedPlugin  # noqa: E402 (after the suite's helpers are on the path)

if __name__ == "__main__":
    get_plugin_manager(Config.from_env().plugins).register(ScriptedPlugin(), name="scripted")
    main()
