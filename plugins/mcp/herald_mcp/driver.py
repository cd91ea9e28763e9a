"""One HTTP request served by the SDK's streamable HTTP transport (an ASGI application) in the thread
of the WSGI request that carries it.

``herald serve`` is WSGI (gunicorn threads); the SDK's transport is ASGI. Rather than a second server
or an event loop in a thread of its own (whose lifespan and shutdown would need managing in every
gunicorn process), each request to ``/mcp`` runs the transport, stateless and answering JSON, in an
event loop of its own for the time of that request: its lifespan starts, the request is served, its
lifespan ends. Nothing outlives the request, and no other route pays anything.
"""

from __future__ import annotations

import dataclasses

import anyio
from mcp.server.transport_security import TransportSecuritySettings

from .tools import server

# The endpoint requires an API key in a header, which a page of another site cannot send without a
# CORS preflight Herald never grants: the Host check against DNS rebinding has nothing to add, and
# would refuse Herald's own public host names.
NO_HOST_CHECK = TransportSecuritySettings(enable_dns_rebinding_protection=False)


@dataclasses.dataclass
class Answer:
    """The transport's HTTP answer."""

    status: int = 500
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    body: bytes = b""


def serve(scope: dict, body: bytes) -> Answer:
    """Serve the ASGI HTTP ``scope`` with the request body ``body``; the whole answer."""
    return anyio.run(_serve, scope, body)


async def _serve(scope: dict, body: bytes) -> Answer:
    app = server().streamable_http_app(streamable_http_path=scope["path"], json_response=True, stateless_http=True,
                                       transport_security=NO_HOST_CHECK)
    answer = Answer()
    chunks: list[bytes] = []
    answered = anyio.Event()
    body_sent = False

    async def receive() -> dict:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()  # the client is "connected" until the whole answer is written
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = [(name.decode("latin-1"), value.decode("latin-1"))
                              for name, value in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    try:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
    finally:
        answered.set()
    answer.body = b"".join(chunks)
    return answer
