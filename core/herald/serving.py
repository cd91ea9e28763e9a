"""The gunicorn worker ``herald serve`` runs: threaded, and answering in Herald's error envelope the
requests gunicorn itself refuses.

Threaded (gunicorn's ``gthread``): each worker process serves ``--threads`` connections at once, so a
slow client holds one thread rather than a whole process, and a request may take as long as it needs.
gunicorn's ``timeout`` is then about the worker answering its arbiter, not about one request: with
sync workers, a download taking longer than the timeout (the account export, with its media, over a
slow link) had its worker killed in the middle and the client got a truncated file under a 200.
Herald is thread-safe per request: database connections are per thread (peewee's pool), the SQLite
write lock is taken on a descriptor of each thread's own (:mod:`herald.writelock`), and the
process-wide caches and rate-limit leases take their locks.

Some requests never reach the application: a request line that is not HTTP (a byte that is not
ASCII in the path), a URL over gunicorn's ``limit_request_line`` (4094 bytes), too many or too large
headers. gunicorn answers those itself, with an HTML page. :class:`HeraldWorker` answers them with
the same status in ``{"error": {"code", "message"}}``, like every other error of the API.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

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


class HeraldWorker(ThreadWorker):
    """gunicorn's ``gthread`` worker whose own error responses (requests it refuses) are JSON."""

    def init_process(self):
        """Write gunicorn's refusals as JSON in this worker process, then serve."""
        # Replaced once for the whole process, before any thread runs: this process serves only Herald.
        util.write_error = write_json_error
        super().init_process()
