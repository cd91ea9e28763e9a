"""``herald mcp``: the MCP server over stdio, for an assistant that starts it as a subprocess.

The key comes from ``--key`` or ``HERALD_API_KEY``. Before serving, the command sends one MCP ping to
Herald's own ``POST /mcp`` in this process with it, so a missing, wrong or revoked key, or the plugin
being disabled for the key's workspace, stops it at once with Herald's words for it (and exit status
1), as the HTTP transport would refuse it. Standard output is the protocol's: nothing else is
printed there.
"""

from __future__ import annotations

import click

from herald.sdk.console import command, command_runtime
from herald.sdk.web import LocalApi

PING = {"jsonrpc": "2.0", "id": "herald-mcp-start", "method": "ping"}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@click.option("--key", envvar="HERALD_API_KEY", default=None, metavar="KEY",
              help="The Herald API key the tools act with (default: HERALD_API_KEY). Its scopes limit them.")
def mcp_stdio(key):
    """Serve the MCP server on stdin/stdout for an assistant (Claude Desktop, an IDE): its tools draft,
    score, dry-run, publish and schedule posts and read analytics with the API key's scopes."""
    if not key:
        raise click.ClickException("No API key: set HERALD_API_KEY or pass --key (create one with "
                                   "`herald create-key WORKSPACE`).")
    runtime = command_runtime()
    api = LocalApi.for_runtime(runtime)
    check = api.request("POST", "/mcp", key=key, json_body=PING, headers=ACCEPT)
    if check.error is not None:
        raise click.ClickException(f"Herald refused to start the MCP server ({check.status} {check.error['code']}): "
                                   f"{check.error['message']}")
    from . import tools  # the SDK is loaded only by the command that serves it
    from .caller import CALLER, Caller

    CALLER.set(Caller(api, key.strip(), runtime.config))
    tools.server().run("stdio")


def add_to(cli: click.Group) -> None:
    """Add ``herald mcp`` to the ``herald`` command."""
    command(cli, "mcp")(mcp_stdio)
