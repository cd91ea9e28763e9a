"""``POST /mcp``: the MCP server over streamable HTTP in ``herald serve`` (stateless, JSON answers).

Authenticated with a Herald API key (``Authorization: Bearer …`` or ``X-API-Key``; a session cookie is
not enough: the tools act with the key) and answering 403 ``feature_disabled`` in workspaces where the
plugin is disabled (``herald mcp`` makes the same request at start, to check its key). The key's
scopes limit what the tools do, since each tool calls the API with it. What the transport refuses
itself (a body that is not JSON-RPC, an Accept header without ``application/json``) is answered in
Herald's error envelope, like every other refusal of the API.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

from herald.sdk import Unauthorized, UnsupportedMediaType, ValidationError
from herald.sdk.web import LocalApi, endpoint, require_enabled, runtime

bp = Blueprint("mcp", __name__)

# Hop-by-hop and length headers are the WSGI server's to write.
NOT_PASSED_ON = frozenset({"content-length", "connection", "transfer-encoding", "date", "server"})


@endpoint(bp, "/mcp", ("POST",), summary="The MCP server (Model Context Protocol, streamable HTTP, stateless JSON "
          "answers; 202 with no body for a notification): tools and resources acting with the caller's API key "
          "and its scopes", responses={200: "jsonrpc_response"}, errors=(400, 413, 415))
def mcp_endpoint():
    """One JSON-RPC message (or batch) of an MCP client, answered by the SDK's transport."""
    require_enabled("mcp", "The MCP server is")
    key = runtime().auth.presented_key(request)
    if key is None:
        raise Unauthorized("The MCP endpoint takes an API key: send Authorization: Bearer <key> or X-API-Key.")
    if not request.is_json:
        raise UnsupportedMediaType("Send MCP messages as JSON with Content-Type: application/json.")
    from . import driver  # the SDK is loaded by the first MCP request, not by every Herald process
    from .caller import CALLER, Caller

    token = CALLER.set(Caller(LocalApi.current(), key, runtime().config, request.remote_addr or "127.0.0.1"))
    try:
        answer = driver.serve(_scope(), request.get_data())
    finally:
        CALLER.reset(token)
    if answer.status >= 400:
        raise ValidationError(_transport_refusal(answer.body))
    headers = [(name, value) for name, value in answer.headers if name.lower() not in NOT_PASSED_ON]
    return Response(answer.body, status=answer.status, headers=headers)


def _scope() -> dict:
    """The ASGI scope of the current WSGI request."""
    environ = request.environ
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in request.headers.items()]
    port = int(environ.get("SERVER_PORT") or 80)
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
            "scheme": request.scheme, "path": request.path, "raw_path": request.path.encode("latin-1"),
            "root_path": "", "query_string": environ.get("QUERY_STRING", "").encode("latin-1"), "headers": headers,
            "client": (request.remote_addr or "127.0.0.1", 0), "server": (environ.get("SERVER_NAME", ""), port)}


def _transport_refusal(body: bytes) -> str:
    """The words of the transport's JSON-RPC error (a malformed message, a wrong Accept header)."""
    try:
        error = json.loads(body).get("error") or {}
        message = error.get("message")
    except (ValueError, AttributeError):
        message = None
    first_line = (message or "").strip().splitlines()[:1]  # pydantic's lists go on for pages
    return f"The MCP transport refused the request: {first_line[0] if first_line else 'not a valid MCP message'}."
