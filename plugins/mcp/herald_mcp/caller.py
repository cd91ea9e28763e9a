"""Who the tools act for, and how they call Herald's API for them.

Each transport sets :data:`CALLER` (the API key and the application to call) before the MCP server
handles a message; a tool reads it with :func:`call`, which answers the API's JSON body or raises the
API's refusal as the MCP error the client sees (a tool error, or a resource error), carrying the
envelope's ``code``, ``message`` and ``field`` and the HTTP status.
"""

from __future__ import annotations

import dataclasses
import json
from contextvars import ContextVar
from typing import Any

from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from herald.sdk import Config
from herald.sdk.web import ApiAnswer, LocalApi


@dataclasses.dataclass(frozen=True)
class Caller:
    """The holder of an API key, as the tools act for them: ``api`` is Herald's API in this process,
    ``remote_addr`` the address its requests are counted against, ``config`` the server's settings."""

    api: LocalApi
    key: str
    config: Config
    remote_addr: str = "127.0.0.1"


CALLER: ContextVar[Caller] = ContextVar("herald_mcp_caller")


def refusal(answer: ApiAnswer) -> str:
    """The text of an MCP error for a refusal of the API: its status and its envelope, as JSON."""
    return json.dumps({"status": answer.status, "error": answer.error})


def call(method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None,
         error: type[Exception] = ToolError) -> Any:
    """``method path`` of Herald's API with the caller's key: the answer's JSON body, or ``error``
    (:class:`ToolError`, or :class:`ResourceError` for a resource) carrying the refusal."""
    caller = CALLER.get()
    query = {name: value for name, value in (query or {}).items() if value is not None}
    answer = caller.api.request(method, path, key=caller.key, json_body=body, query=query,
                                remote_addr=caller.remote_addr)
    if answer.error is not None:
        raise error(refusal(answer))
    return answer.body


def read(path: str, query: dict[str, Any] | None = None) -> str:
    """A resource's text: ``GET path`` as JSON (a refusal is a :class:`ResourceError`)."""
    return json.dumps(call("GET", path, query=query, error=ResourceError), indent=1)


__all__ = ["CALLER", "Caller", "ResourceError", "ToolError", "call", "read", "refusal"]
