"""A platform's API on loopback, for tests: the base of the fake servers plugins are tested against.

Subclass :class:`FakeAPI`, declare routes with :func:`route` and answer from the fake's own state, as
the real service would (its request shapes, its error bodies, its status codes)::

    class FakeMastodon(FakeAPI):
        @route("POST", r"/api/v1/statuses")
        def create_status(self, call):
            status = {"id": str(len(self.statuses) + 1), "content": call.form["status"]}
            self.statuses.append(status)
            return 200, status

    with FakeMastodon() as fake:
        fake.fail_next(429, {"error": "Too many requests"}, headers={"X-RateLimit-Reset": "..."})
        fake.drop_next_answer(r"/api/v1/statuses")  # the status is made, its answer lost
        ...  # point the plugin's setting at fake.url

It is real HTTP/1.1 with keep-alive on 127.0.0.1 (a free port), in a background thread. Every request
is kept in :attr:`FakeAPI.calls`. Faults are queued: :meth:`FakeAPI.fail_next` answers an error
without running the route (nothing happened), :meth:`FakeAPI.drop_next_answer` runs the route and
closes the connection without answering (it happened; the caller cannot know), and
:meth:`FakeAPI.delay_next` holds an answer.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Call", "FakeAPI", "route", "serve", "shut"]

Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]


def serve(handler: type[BaseHTTPRequestHandler], name: str) -> ThreadingHTTPServer:
    """A threaded HTTP server for ``handler`` on a free port of 127.0.0.1, serving in a background
    thread named ``name`` (stop it with :func:`shut`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, name=name, daemon=True)
    server.herald_thread = thread
    thread.start()
    return server


def shut(server: ThreadingHTTPServer) -> None:
    """Stop a server :func:`serve` started and release its port (connections are refused from now on)."""
    server.shutdown()
    server.server_close()
    server.herald_thread.join(timeout=5)


def route(method: str, path: str) -> Callable:
    """Declare a method of a :class:`FakeAPI` subclass as the handler of ``method`` requests whose path
    matches the regular expression ``path`` (whole path; named groups are passed as keywords). The
    handler takes the :class:`Call` and answers ``(status, body)`` or ``(status, body, headers)``: a
    body that is not ``bytes`` is sent as JSON."""

    def mark(handler: Callable) -> Callable:
        handler.__fake_route__ = (method.upper(), re.compile(path))
        return handler

    return mark


@dataclasses.dataclass
class Call:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        """The body's form fields (``application/x-www-form-urlencoded``)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")

    def header(self, name: str) -> str | None:
        """A request header, whatever its case."""
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), None)


@dataclasses.dataclass
class _Fault:
    path: re.Pattern | None
    status: int | None = None  # answer this instead of running the route
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    drop: bool = False  # run the route, then close the connection without an answer
    delay: float = 0.0


class FakeAPI:
    """See the module docstring. ``url`` is ``http://127.0.0.1:<port>`` once started."""

    def __init__(self):
        self.calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._routes = [getattr(self, name).__fake_route__ + (getattr(self, name),)
                        for name in dir(type(self)) if hasattr(getattr(type(self), name), "__fake_route__")]

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> FakeAPI:
        """Listen on a free loopback port."""
        self._server = serve(_handler_for(self), type(self).__name__)
        return self

    def stop(self) -> None:
        """Stop listening (connections are refused from now on)."""
        if self._server is not None:
            shut(self._server)
            self._server = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the base URL to point the plugin at."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- faults -------------------------------------------------------------------------------------

    def fail_next(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None,
                  path: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests (whose path matches ``path``, when given) with ``status``,
        ``body`` and ``headers``, without running their routes: nothing happens on the fake's side."""
        for _ in range(times):
            self._add(_Fault(re.compile(path) if path else None, status=status, body=body, headers=headers or {}))

    def drop_next_answer(self, path: str | None = None) -> None:
        """Run the next matching request's route, then close its connection without answering: what it
        did stands, and the caller gets no answer (a crash or a network cut after the platform acted)."""
        self._add(_Fault(re.compile(path) if path else None, drop=True))

    def delay_next(self, seconds: float, path: str | None = None) -> None:
        """Hold the next matching answer ``seconds`` (pair it with a shorter client timeout)."""
        self._add(_Fault(re.compile(path) if path else None, delay=seconds))

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path is None or fault.path.fullmatch(path):
                    return self._faults.pop(index)
        return None

    # -- serving ------------------------------------------------------------------------------------

    def not_found(self, call: Call) -> Answer:
        """The answer for a request no route takes (override to give the service's own 404 body)."""
        return 404, {"error": f"no route for {call.method} {call.path}"}

    def handle(self, call: Call) -> tuple[Answer, bool]:
        """The answer to ``call``, and whether to drop the connection instead of sending it."""
        with self._lock:
            self.calls.append(call)
        fault = self._take_fault(call.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)  # the fake's thread, not the test's: a slow server
        if fault is not None and fault.status is not None:
            return (fault.status, fault.body, fault.headers), False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(call.path)
            if match and method == call.method:
                with self._lock:
                    answer = handler(call, **match.groupdict())
                return answer, bool(fault and fault.drop)
        return self.not_found(call), bool(fault and fault.drop)


def _handler_for(fake: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self):
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            call = Call(self.command, split.path, dict(parse_qsl(split.query, keep_blank_values=True)),
                        dict(self.headers.items()), self.rfile.read(length) if length else b"")
            answer, drop = fake.handle(call)
            if drop:
                self.close_connection = True
                return
            status, body, headers = (*answer, {})[:3]
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                if not isinstance(body, bytes):
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the caller is gone (a killed worker)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 (http.server's naming)

        def log_message(self, *args):
            pass

    return Handler
