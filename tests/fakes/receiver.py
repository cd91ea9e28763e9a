"""A webhook receiver on real HTTP, for tests: records every request and answers as scripted.

::

    with Receiver() as receiver:
        receiver.script = [Reply(500), Reply(503, headers={"Retry-After": "120"})]  # then 200s
        ...                                   # deliver to receiver.url
        payloads = receiver.verified(secret)  # every request checked with standardwebhooks

It listens on 127.0.0.1 (a free port) in a background thread and keeps connections alive
(HTTP/1.1), as real receivers do. ``go_down()`` closes the port (connections are refused) and the
connections kept alive, and ``come_up()`` opens the same port again. A :class:`Reply` with
``delay`` holds the response that long (a slow receiver), which tests pair with a short client
timeout instead of sleeping themselves; one with ``hold`` (a ``threading.Event``) holds it until the
test sets the event. ``wait_for(n)`` returns once ``n`` requests have arrived.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

HOLD_LIMIT = 60.0  # seconds a held answer waits at most for its test


@dataclasses.dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0
    hold: threading.Event | None = None  # answer only once the test sets it (at most HOLD_LIMIT seconds)


@dataclasses.dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int
    client_port: int = 0  # the client's end of the connection (a kept-alive connection keeps it)


class Receiver:
    """See the module docstring."""

    def __init__(self, default: Reply | None = None):
        self.default = default or Reply()
        self.script: list[Reply] = []
        self.requests: list[Received] = []
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> Receiver:
        self.come_up()
        return self

    def __exit__(self, *exc) -> None:
        self.go_down()

    def come_up(self) -> None:
        """Listen (on the same port as before, after :meth:`go_down`)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def setup(self):
                super().setup()
                # The status line and headers, then the body, are two writes: without this, Nagle's
                # algorithm holds the body until the client's delayed ACK (40 ms) on a kept connection.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self):
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                reply = receiver._next()
                with receiver._arrived:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body, time.time(),
                                                      reply.status, self.client_address[1]))
                    receiver._arrived.notify_all()
                if reply.delay:
                    time.sleep(reply.delay)  # the receiver is slow; the test itself never waits on this
                if reply.hold is not None:
                    reply.hold.wait(HOLD_LIMIT)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    self.close_connection = True  # the sender gave up waiting (its timeout): nobody to answer

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    def go_down(self) -> None:
        """Stop listening: connections to the port are refused until :meth:`come_up`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            with self._lock:  # and the kept-alive connections: a client sees them closed
                for connection in self._connections:
                    with contextlib.suppress(OSError):
                        connection.shutdown(socket.SHUT_RDWR)

    # -- behaviour and inspection -------------------------------------------------------------------

    def url(self, path: str = "/hook") -> str:
        """The URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """Block until ``count`` requests have arrived (False when ``timeout`` seconds pass first)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    def _next(self) -> Reply:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def verified(self, *secrets: str, path: str | None = None) -> list[dict]:
        """Every request's payload, each verified with ``standardwebhooks`` against one of ``secrets``.

        Raises ``WebhookVerificationError`` when a request verifies with none of them.
        """
        payloads = []
        for request in self.received(path):
            errors = []
            for secret in secrets:
                try:
                    payloads.append(Webhook(secret).verify(request.body, request.headers))
                    break
                except Exception as exc:  # try the next secret
                    errors.append(exc)
            else:
                raise errors[-1]
        return payloads

    def received(self, path: str | None = None) -> list[Received]:
        """The requests so far (to ``path`` when given)."""
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]
