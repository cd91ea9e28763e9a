"""The HTTP client's calls to an operator's API (``herald.net.http.request``, the Graph client's and
Gemini's): kept-alive connections, and what happens when the server closes one."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from herald.net import http
from herald.net.guard import check_url


class CountingServer:
    """A loopback HTTP/1.1 server counting connections; ``close_after`` closes each connection after
    that many answers without saying so (as a server dropping idle keep-alive connections does)."""

    def __init__(self, close_after: int | None = None):
        self.connections = 0
        self.closed = threading.Event()  # set once the server closed a connection's socket
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
        close = self.httpd.shutdown_request

        def shutdown_request(request):  # socketserver closes the socket here, after the handler ends
            close(request)
            self.closed.set()

        self.httpd.shutdown_request = shutdown_request
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


POOL = http.ConnectionPool()  # this module's own, so connections of other tests are not counted


@pytest.fixture
def server_factory():
    servers = []
    POOL.clear()

    def make(**kwargs):
        servers.append(CountingServer(**kwargs))
        return servers[-1]

    yield make
    POOL.clear()
    for server in servers:
        server.close()


def get(url: str, method: str = "GET") -> http.Response:
    return http.request(method, url, body=b"" if method == "POST" else None, headers={}, timeout=5, pool=POOL)


def test_calls_to_one_host_share_a_connection(server_factory):
    server = server_factory()
    for n in range(3):
        assert get(f"{server.url}/me?n={n}").status == 200
    assert get(f"{server.url}/feed", "POST").body == b'{"ok":true}'
    assert server.connections == 1
    assert len(server.requests) == 4


def test_an_idle_connection_is_not_reused(server_factory, monkeypatch):
    server = server_factory()
    monkeypatch.setattr(POOL, "idle_seconds", 0.0)
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
    assert POOL.idle_count() == 1
    assert server.closed.wait(5)  # the server closed the kept connection (an event, not a sleep)
    # The server closed the kept connection without saying so: it is not reused, so the POST is
    # neither lost (which would make a publish "uncertain") nor sent twice.
    assert get(f"{server.url}/feed", "POST").status == 200
    assert server.requests == ["GET /me", "POST /feed"]
    assert server.connections == 2


def test_connection_refused_is_send_failed():
    with pytest.raises(http.SendFailed):
        # port 9 (discard) is closed on loopback
        http.request("POST", "http://127.0.0.1:9/feed", body=b"", headers={}, timeout=2, pool=POOL)


def test_calls_go_through_the_proxy_the_environment_names(server_factory, monkeypatch):
    proxy = server_factory()  # answers whatever it is asked, as a proxy relaying to the API would
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    http._proxied_host.cache_clear()
    try:
        # api.example.test resolves nowhere: only the proxy can have answered.
        assert get("http://api.example.test/v25.0/me").body == b'{"ok":true}'
    finally:
        http._proxied_host.cache_clear()
    assert proxy.requests == ["GET http://api.example.test/v25.0/me"]


def test_a_user_given_address_never_goes_through_the_proxy(server_factory, monkeypatch):
    receiver, proxy = server_factory(), server_factory()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    target = check_url(f"{receiver.url}/hook", allow_private=True)  # checked, then pinned to that address
    assert http.post(target, b"{}", {}, timeout=5).status == 200
    assert receiver.requests == ["POST /hook"] and proxy.requests == []
