"""``herald`` sub-commands for plugins (the ``register_commands`` hook).

Make a command with :func:`command` on the group the hook hands over (or on a group of your own
added to it); its body gets the invocation's runtime from :func:`command_runtime` (the database
bound, the clock, Redis, the registry), with no Flask application or request. Say each step of a
long operation with :func:`progress`, one line as it happens. In tests, Flask's CLI runner of the
test application (``app.test_cli_runner().invoke(cli, [...])``) runs the command on that
application's runtime.
"""

from __future__ import annotations

from ..console import command, command_runtime, progress

__all__ = ["command", "command_runtime", "progress"]
