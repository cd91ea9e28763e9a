"""An MCP server for Herald (Model Context Protocol, on the official ``mcp`` SDK).

An assistant lists clients and accounts, drafts and edits posts, scores captions, has hooks
generated, asks for approval, dry-runs then publishes or schedules a post, follows its status and
reads analytics; it reads a client's brand memory and recent posts as resources. Every tool calls
Herald's own API in this process with the caller's API key (:class:`herald.sdk.web.LocalApi`), so
the key's scopes, validation, workspace isolation, error envelopes and events are the API's.

Two transports: ``herald mcp`` (stdio, for a desktop assistant; the key from ``HERALD_API_KEY`` or
``--key``) and ``POST /mcp`` in ``herald serve`` (streamable HTTP, stateless JSON answers; the key
in ``Authorization: Bearer`` or ``X-API-Key``). The ``mcp`` SDK is imported only when one of them
is used, so the other Herald processes do not pay for loading it.
"""

from __future__ import annotations

from herald.sdk import hookimpl

from . import console, http_transport
from .settings import RECENT_POSTS


@hookimpl
def register_settings(register):
    """Declare ``HERALD_MCP_RECENT_POSTS``."""
    register(RECENT_POSTS)


@hookimpl
def register_blueprints(register):
    """Provide ``POST /mcp``, the streamable HTTP transport."""
    register(http_transport.bp)


@hookimpl
def register_commands(cli):
    """Provide ``herald mcp``, the stdio transport."""
    console.add_to(cli)
