"""Helpers for the MCP plugin's tests: the SDK's own client over streamable HTTP, and reading what its
tools answer (a result, or a refusal carrying Herald's error envelope)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from werkzeug.serving import make_server


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` served on a free loopback port by a threaded server for the time of the block; yields the
    URL of its MCP endpoint."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/mcp"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def http_client(url: str, key: str, header: str = "Authorization") -> Client:
    """The SDK's client for the MCP endpoint ``url``, sending ``key`` as a bearer token (or in ``header``)."""
    value = f"Bearer {key}" if header == "Authorization" else key
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(headers={header: value})))


async def answer(client: Client, tool: str, **arguments) -> dict:
    """What ``tool`` answered; fails the test when it answered an error."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def refusal(client: Client, tool: str, **arguments) -> dict:
    """The error ``tool`` answered (``{"status", "error": {"code", "message", "field"?}}``); fails the
    test when it succeeded."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    text = result.content[0].text  # "Error executing tool <name>: {...}"
    return json.loads(text[text.index("{"):])


async def resource(client: Client, uri: str) -> dict:
    """The JSON of the resource ``uri``."""
    result = await client.read_resource(uri)
    return json.loads(result.contents[0].text)
