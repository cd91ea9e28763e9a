"""The Graph client's transport: kept-alive connections, and what happens when the server closes one."""

from __future__ import annotations

import select
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from herald.net.guard import still_open
from herald_graph import transport


class CountingServer:
    """A loopback HTTP/1.1 server counting connections; ``close_after`` closes each connection after
    that many answers without saying so (as a server dropping idle keep-alive connections does)."""

    def __init__(self, close_after: int | None = None):
        self.connections = 0
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                server.connections += 1
                self.answered = 0

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.requests.append(f"{self.command} {self.path}")
                body = b'{"ok":true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.answered += 1
                if close_after is not None and self.answered >= close_after:
                    self.close_connection = True

            do_GET = do_POST = _answer  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    servers = []
    transport.close_all()  # connections earlier tests in this process kept are not this test's

    def make(**kwargs):
        servers.append(CountingServer(**kwargs))
        return servers[-1]

    yield make
    transport.close_all()
    for server in servers:
        server.close()


def get(url: str, method: str = "GET") -> transport.Answer:
    return transport.send(method, url, body=b"" if method == "POST" else None, headers={}, timeout=5)


def test_calls_to_one_host_share_a_connection(server_factory):
    server = server_factory()
    for n in range(3):
        assert get(f"{server.url}/me?n={n}").status == 200
    assert get(f"{server.url}/feed", "POST").body == b'{"ok":true}'
    assert server.connections == 1
    assert len(server.requests) == 4


def test_an_idle_connection_is_not_reused(server_factory, monkeypatch):
    server = server_factory()
    monkeypatch.setattr(transport, "IDLE_SECONDS", 0.0)
    get(f"{server.url}/me")
    get(f"{server.url}/me")
    assert server.connections == 2


def test_a_get_on_a_connection_the_server_closed_is_sent_again(server_factory):
    server = server_factory(close_after=1)
    assert get(f"{server.url}/a").status == 200
    assert get(f"{server.url}/b").status == 200  # the kept connection was closed: a new one is made
    assert server.requests == ["GET /a", "GET /b"]
    assert server.connections == 2


def test_a_post_after_the_server_closed_the_idle_connection_goes_on_a_new_one(server_factory):
    server = server_factory(close_after=1)
    assert get(f"{server.url}/me").status == 200
    [(kept, _)] = transport._pool().values()
    deadline = time.monotonic() + 5
    while still_open(kept) and time.monotonic() < deadline:  # until the server's close has arrived
        select.select([kept.sock], [], [], 0.05)
    # The server closed the kept connection without saying so: it is not reused, so the POST is
    # neither lost (which would make a publish "uncertain") nor sent twice.
    assert get(f"{server.url}/feed", "POST").status == 200
    assert server.requests == ["GET /me", "POST /feed"]
    assert server.connections == 2


def test_connection_refused_is_send_failed():
    with pytest.raises(transport.SendFailed):
        # port 9 (discard) is closed on loopback
        transport.send("POST", "http://127.0.0.1:9/feed", body=b"", headers={}, timeout=2)
