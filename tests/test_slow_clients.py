"""``herald serve`` facing slow and idle clients, with no proxy in front: a hundred connections that
send part of a request and wait stall nobody else, are closed after the request timeout, and a body
Herald refuses leaves the connection usable (or closes it, saying so)."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest
from redis_server import free_port
from serve_drive import output, wait_for_health

SLOW = 100


def partial_headers(key: str) -> bytes:
    """The start of a request whose headers never end."""
    return f"POST /api/webhooks HTTP/1.1\r\nHost: herald.test\r\nX-API-Key: {key}\r\nContent-Type: appl".encode()


def partial_body(key: str) -> bytes:
    """Whole headers announcing 1000 bytes of body, and 10 of them."""
    return (f"POST /api/webhooks HTTP/1.1\r\nHost: herald.test\r\nX-API-Key: {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"action\":").encode()


def open_slow_connections(port: int, key: str) -> list[socket.socket]:
    """``SLOW`` connections, half stopped in their headers, half in their body."""
    sockets = []
    for number in range(SLOW):
        sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        sock.sendall(partial_headers(key) if number % 2 else partial_body(key))
        sockets.append(sock)
    return sockets


def list_posts(connection: http.client.HTTPConnection, tenant) -> tuple[int, float]:
    """One ``list_posts`` on ``connection``: its status and how long the answer took."""
    started = time.monotonic()
    body = json.dumps({"action": "list_posts", "client_id": tenant.client.id})
    connection.request("POST", "/api/webhooks", body=body,
                       headers={"X-API-Key": tenant.key, "Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response.status, time.monotonic() - started


@pytest.fixture
def serve(herald_env, start_herald):
    """Factory: a ``herald serve`` (2 workers of 4 threads, as by default) with extra arguments: its port
    and process."""

    def start(*args):
        port = free_port()
        process = start_herald("serve", "--port", port, *args, env=herald_env)
        wait_for_health(process, port)
        return port, process

    return start


def test_a_hundred_slow_connections_stall_no_other_client(serve, tenant):
    port, process = serve()
    slow = open_slow_connections(port, tenant.key)
    opened = time.monotonic()
    try:
        took = []
        for _ in range(10):  # new connections, one request each
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            try:
                status, seconds = list_posts(connection, tenant)
            finally:
                connection.close()
            assert status == 200
            took.append(seconds)
        kept_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=1)  # one connection, ten requests
        try:
            for _ in range(10):
                status, seconds = list_posts(kept_alive, tenant)
                assert status == 200
                took.append(seconds)
        finally:
            kept_alive.close()
        assert max(took) < 1.0, took
        assert time.monotonic() - opened < 10, "the slow connections may have been closed: the test shows nothing"
    finally:
        for sock in slow:
            sock.close()
    assert "Traceback" not in output(process), output(process)


def test_requests_that_do_not_arrive_in_time_are_closed(serve, tenant):
    port, _ = serve("--request-timeout", 1)
    slow = open_slow_connections(port, tenant.key)[:10]
    idle = socket.create_connection(("127.0.0.1", port), timeout=15)  # sends nothing at all
    try:
        for sock in slow:
            answer = b""
            while chunk := sock.recv(65536):  # the server closes the connection: recv ends
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408") and b"Connection: close" in head, answer
            error = json.loads(body)["error"]
            assert error["code"] == "request_timeout" and "within 1 s" in error["message"], error
        assert idle.recv(65536) == b""
    finally:
        for sock in [*slow, idle]:
            sock.close()


def test_a_json_body_over_1_mib_answers_413_and_the_connection_serves_the_next_request(serve, tenant):
    port, _ = serve()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        big = json.dumps({"action": "create_post", "client_id": tenant.client.id, "caption": "x" * (1024 * 1024 + 10)})
        connection.request("POST", "/api/webhooks", body=big,
                           headers={"X-API-Key": tenant.key, "Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 413 and json.loads(response.read())["error"]["code"] == "payload_too_large"
        if response.getheader("Connection", "").lower() == "close":  # closing is fine when the answer says so
            connection.close()
        status, _ = list_posts(connection, tenant)  # the same connection (a new one only after "close")
        assert status == 200
    finally:
        connection.close()


def test_a_body_over_any_limit_is_refused_before_it_is_sent(serve, tenant):
    port, _ = serve()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST /api/media HTTP/1.1\r\nHost: herald.test\r\nX-API-Key: {tenant.key}\r\n"
                     f"Content-Type: application/octet-stream\r\nContent-Length: {60 * 1024 * 1024}\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"Connection: close" in head, answer
    assert json.loads(body)["error"]["code"] == "payload_too_large"
