"""Requests broken at the HTTP level, sent as raw bytes to a real ``herald serve`` (gunicorn), and a
download slower than gunicorn's worker timeout.

The test client cannot send these: a malformed chunked body, a body cut short, a request line that is
not HTTP, a URL or headers over gunicorn's limits. Each must be answered in the error envelope with
the right status, never a 500, an HTML page or a traceback in the log, and must store nothing.
"""

from __future__ import annotations

import io
import json
import socket
import time
import zipfile

import media_samples
import pytest
from redis_server import free_port
from serve_drive import output, wait_for_health

from herald.db.models import Media, Post, db

NO_TRACEBACK = ("Traceback", "unhandled error", "Error handling request")


@pytest.fixture
def server(herald_env, start_herald):
    """A ``herald serve`` with one worker: ``(port, process)``."""
    port = free_port()
    process = start_herald("serve", "--port", port, "--workers", 1, env=herald_env)
    wait_for_health(process, port)
    return port, process


def exchange(port: int, data: bytes, *, half_close: bool = False) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` on a new connection (then close the sending side when ``half_close``) and read
    the whole answer: status, headers (names lowercased) and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict((name.strip().lower(), value.strip()) for name, _, value in
                   (line.partition(":") for line in header_lines))
    return int(status_line.split()[1]), headers, body


def assert_envelope(answer, status: int, code: str) -> str:
    """``answer`` is ``status`` with ``code`` in the JSON envelope; returns its message."""
    got_status, headers, body = answer
    assert got_status == status, (got_status, body)
    assert headers["content-type"] == "application/json", headers
    assert int(headers["content-length"]) == len(body), headers
    error = json.loads(body)["error"]
    assert set(json.loads(body)) == {"error"} and error["code"] == code and error["message"], body
    return error["message"]


def chunked(body: bytes, size: int = 16) -> bytes:
    """``body`` in well-formed chunks of ``size`` bytes, with the last, empty chunk."""
    chunks = [body[start:start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def post_request(path: str, key: str, content_type: str, framing: bytes, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: herald.test\r\nX-API-Key: {key}\r\nConnection: close\r\n"
            f"Content-Type: {content_type}\r\n").encode() + framing + b"\r\n" + body


def count(model) -> int:
    with db.connection_context():
        return model.select().count()


def test_a_chunked_body_is_read_and_a_malformed_one_is_a_400_that_stores_nothing(server, tenant):
    port, process = server
    payload = json.dumps({"action": "create_post", "client_id": tenant.client.id, "caption": "Sent in chunks",
                          "platforms": "instagram"}).encode()
    request = post_request("/api/webhooks", tenant.key, "application/json", b"Transfer-Encoding: chunked\r\n",
                           chunked(payload))
    status, _, body = exchange(port, request)
    assert status == 201 and json.loads(body)["post"]["caption"] == "Sent in chunks", body
    assert count(Post) == 1

    good_start = chunked(payload[:32])[:-5]  # two whole chunks (without the last, empty one), then a size
    request = post_request("/api/webhooks", tenant.key, "application/json", b"Transfer-Encoding: chunked\r\n",
                           good_start + b"zz\r\nabc\r\n0\r\n\r\n")
    message = assert_envelope(exchange(port, request), 400, "bad_request")
    assert "could not be read" in message and "chunk size" in message, message
    assert count(Post) == 1
    assert not any(marker in output(process) for marker in NO_TRACEBACK), output(process)


def test_a_body_shorter_than_its_content_length_is_a_400(server, tenant):
    port, process = server
    payload = json.dumps({"action": "create_post", "client_id": tenant.client.id, "caption": "Cut short"}).encode()
    request = post_request("/api/webhooks", tenant.key, "application/json",
                           f"Content-Length: {len(payload) + 100}\r\n".encode(), payload)
    message = assert_envelope(exchange(port, request, half_close=True), 400, "bad_request")
    assert f"ended after {len(payload)} of the {len(payload) + 100} bytes" in message, message
    assert count(Post) == 0

    sheet = b"content,accounts\nMonday tip,acc_1\n"  # cut at a line end: it would read as a whole sheet
    request = post_request("/v1/publish/csv", tenant.key, "text/csv", b"Content-Length: 200\r\n", sheet)
    assert_envelope(exchange(port, request, half_close=True), 400, "bad_request")  # not 404 for acc_1: unread
    assert not any(marker in output(process) for marker in NO_TRACEBACK), output(process)


PICTURE = media_samples.noise_png(300_000)  # a real picture: Herald decodes what it keeps


def test_an_upload_with_a_broken_chunk_keeps_no_file(server, tenant, config):
    port, process = server
    part = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png'
            b"\r\n\r\n" + PICTURE + b"\r\n--b--\r\n")
    broken = chunked(part, size=4096)[:48 * (6 + 4096 + 2)] + b"not-a-size\r\n"  # after 48 whole chunks
    request = post_request("/api/media", tenant.key, "multipart/form-data; boundary=b",
                           b"Transfer-Encoding: chunked\r\n", broken)
    assert_envelope(exchange(port, request), 400, "bad_request")
    assert count(Media) == 0
    leftovers = [path for path in config.media_dir.rglob("*") if path.is_file()] if config.media_dir.exists() else []
    assert leftovers == []  # the spool of the part read so far is gone too
    assert not any(marker in output(process) for marker in NO_TRACEBACK), output(process)

    request = post_request("/api/media", tenant.key, "multipart/form-data; boundary=b",
                           b"Transfer-Encoding: chunked\r\n", chunked(part, size=4096))
    status, _, body = exchange(port, request)
    assert status == 201 and json.loads(body)["media"]["size"] == len(PICTURE), body


@pytest.mark.parametrize(("request_bytes", "status", "code", "words"), [
    (b"GET /api/clients/caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request", "Invalid Request Line"),
    (b"HELLO\r\n\r\n", 400, "bad_request", "Invalid Request Line"),
    (b"G@T /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request", "Invalid Method"),
    (b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request", "Invalid HTTP Version"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", 400, "bad_request", "header name"),
    (b"GET /v1/posts?cursor=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long", "too large"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % n for n in range(120)) + b"\r\n",
     431, "headers_too_large", "headers"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "headers_too_large", "size"),
], ids=["byte not ascii in path", "not http", "bad method", "bad version", "bad header name", "long url",
        "too many headers", "header too large"])
def test_requests_gunicorn_refuses_are_answered_in_the_envelope(server, request_bytes, status, code, words):
    port, process = server
    message = assert_envelope(exchange(port, request_bytes), status, code)
    assert words in message, message
    assert "Invalid request from ip=" in output(process)  # gunicorn refused it: the app never saw it


def test_a_download_slower_than_the_worker_timeout_arrives_whole(herald_env, start_herald, tenant):
    """A sync worker busy longer than gunicorn's timeout is killed mid-response (the client got a cut
    zip under a 200); herald serve's threaded workers keep answering the arbiter while a thread sends."""
    port = free_port()
    process = start_herald("serve", "--port", port, "--workers", 1, "--timeout", 3, env=herald_env)
    wait_for_health(process, port)
    picture = media_samples.noise_png(12 * 2**20)  # random pixels, stored: the zip cannot make it smaller
    form = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + picture + b"\r\n--b--\r\n")
    upload = post_request("/api/media", tenant.key, "multipart/form-data; boundary=b",
                          f"Content-Length: {len(form)}\r\n".encode(), form)
    assert exchange(port, upload)[0] == 201

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # before connecting: a small window
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET /api/account/export HTTP/1.1\r\nHost: herald.test\r\nX-API-Key: {tenant.key}\r\n"
                     "Connection: close\r\n\r\n".encode())
        started, answer = time.monotonic(), b""
        while chunk := sock.recv(64 * 1024):
            answer += chunk
            time.sleep(0.03)  # a slow client: about 2 MB/s, so the download outlasts the 3 s timeout
        took = time.monotonic() - started
    assert took > 4, f"the download took {took:.1f} s: not slower than the timeout, the test shows nothing"
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    archive = zipfile.ZipFile(io.BytesIO(dechunked(body) if b"chunked" in head.lower() else body))
    assert archive.testzip() is None
    [stored] = [name for name in archive.namelist() if name.startswith("media/")]
    assert archive.read(stored) == picture
    assert "was sent SIGKILL" not in output(process) and "WORKER TIMEOUT" not in output(process)


def dechunked(body: bytes) -> bytes:
    """The payload of a chunked HTTP body."""
    payload, rest = b"", body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return payload
        payload, rest = payload + rest[:size], rest[size + 2:]
