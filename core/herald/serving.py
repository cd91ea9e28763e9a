"""gunicorn's sync worker, answering the requests gunicorn itself refuses in Herald's error envelope.

Some requests never reach the application: a request line that is not HTTP (a byte that is not
ASCII in the path), a URL over gunicorn's ``limit_request_line`` (4094 bytes), too many or too large
headers, an unsupported ``Transfer-Encoding``. gunicorn answers those itself, with an HTML page.
:class:`JsonErrorsSyncWorker` (what ``herald serve`` runs) answers them with the same status in
``{"error": {"code", "message"}}``, like every other error of the API.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

# The envelope's code for each status gunicorn answers by itself.
CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed",
         431: "headers_too_large", 500: "internal_error", 501: "not_implemented"}
SERVER_ERROR_MESSAGE = "Something went wrong on our side while reading the request."


def error_message(status: int, reason: str, detail: str) -> bytes:
    """The whole HTTP response for an error gunicorn answers itself, in Herald's envelope."""
    message = detail.strip() or (SERVER_ERROR_MESSAGE if status >= 500 else reason)
    if not message.endswith("."):
        message += "."
    code = CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    body = json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")).encode() + b"\n"  # ASCII
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    return head + body


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """What gunicorn's ``util.write_error(sock, status_int, reason, mesg)`` does, in JSON."""
    util.write_nonblock(sock, error_message(status_int, reason, mesg))


@contextlib.contextmanager
def json_error_pages() -> Iterator[None]:
    """Within this block, gunicorn writes its error responses with :func:`write_json_error`."""
    html_writer = util.write_error
    util.write_error = write_json_error
    try:
        yield
    finally:
        util.write_error = html_writer


class JsonErrorsSyncWorker(SyncWorker):
    """gunicorn's ``sync`` worker whose own error responses (requests it refuses) are JSON."""

    def handle_error(self, req, client, addr, exc):
        """Answer the request that failed ``exc`` as gunicorn does, in the error envelope."""
        with json_error_pages():
            super().handle_error(req, client, addr, exc)
