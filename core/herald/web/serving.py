"""The gunicorn worker ``herald serve`` runs: threaded, reading each request whole before a thread
takes it, and answering in Herald's error envelope the requests gunicorn itself refuses.

Threaded (gunicorn's ``gthread``): each worker process serves ``--threads`` connections at once, so a
slow client holds one thread rather than a whole process, and a request may take as long as it needs.
gunicorn's ``timeout`` is then about the worker answering its arbiter, not about one request: with
sync workers, a download taking longer than the timeout (the account export, with its media, over a
slow link) had its worker killed in the middle and the client got a truncated file under a 200.
Herald is thread-safe per request: database connections are per thread (peewee's pool), the SQLite
write lock is taken on a descriptor of each thread's own (:mod:`herald.db.writelock`), and the
process-wide caches take their locks.

Slow or idle clients hold no thread. gunicorn's ``gthread`` gives a connection to a thread as soon as
it sends a byte, and the thread waits for the rest: ten clients sending half a request stalled
everyone else. :class:`HeraldWorker` gathers each request in its main loop
(:mod:`herald.web.request_gathering`) and gives a thread only a whole one. A request that is not whole
``request_timeout`` seconds after it began, or that sends nothing for that long, is closed (a 408 in
the envelope when part of it came); a body over ``body_limit`` is answered 413 before it is read; and
connections gunicorn closes linger (to let the client read the answer) in the main loop rather than
blocking it. An application that answers without reading the whole body (a 413 for JSON over 1 MiB)
has the rest read from the gathered bytes, so the connection stays usable for the next request.

Some requests never reach the application: a request line that is not HTTP (a byte that is not
ASCII in the path), a URL over gunicorn's ``limit_request_line`` (4094 bytes), too many or too large
headers. gunicorn answers those itself, with an HTML page. :class:`HeraldWorker` answers them with
the same status in ``{"error": {"code", "message"}}``, like every other error of the API.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import time
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus

from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from ..errors import HeraldError, code_for_status
from ..net.redaction import RedactSecrets
from .request_gathering import CONTINUE, ReplaySocket, RequestGatherer, Verdict

READ_SIZE = 64 * 1024
BODY_OVERHEAD = 1024 * 1024  # a multipart form's framing around the largest upload
LINGER_SECONDS = 2.0  # how long a closing connection is read (and dropped) so the client gets the answer


@dataclass(frozen=True)
class ServingLimits:
    """What ``herald serve`` allows one request: seconds to arrive, and bytes of body."""

    request_timeout: float = 10.0
    body_limit: int = 51 * 1024 * 1024
SERVER_ERROR_MESSAGE = "Something went wrong on our side while reading the request."


def error_message(status: int, reason: str, detail: str) -> bytes:
    """The whole HTTP response for an error gunicorn (or this worker) answers itself, in Herald's envelope.

    The code is the catalogued one for ``status`` (:func:`herald.errors.code_for_status`), and the
    response carries that code's status; the body is built by :meth:`HeraldError.to_dict`, as the
    application's are.
    """
    message = detail.strip() or (SERVER_ERROR_MESSAGE if status >= 500 else reason)
    if not message.endswith("."):
        message += "."
    error = HeraldError(message, code=code_for_status(status))
    if error.status != status:
        reason = HTTPStatus(error.status).phrase
    body = json.dumps(error.to_dict(), separators=(",", ":")).encode() + b"\n"  # ASCII
    head = (f"HTTP/1.1 {error.status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    return head + body


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """What gunicorn's ``util.write_error(sock, status_int, reason, mesg)`` does, in JSON."""
    util.write_nonblock(sock, error_message(status_int, reason, mesg))


def drain_unread_body(app):
    """Wrap the WSGI ``app`` so that the part of a request body it did not read is read after it
    answers: gunicorn drains at most 64 KiB itself and otherwise closes a connection its answer
    announced as kept alive, so the client's next request on it failed."""

    def drained(environ, start_response):
        result = app(environ, start_response)
        body = environ.get("wsgi.input")
        # A body that cannot be read to its end (cut short, malformed): gunicorn closes the connection.
        with contextlib.suppress(Exception):
            while body is not None and body.read(READ_SIZE):
                pass
        return result

    return drained


def _read_available(conn) -> bytes | None:
    """What the client sent since the last read: ``b""`` at its end (or a broken connection), ``None``
    when nothing has arrived yet."""
    try:
        return conn.sock.read_now(READ_SIZE)
    except BlockingIOError:
        return None
    except OSError:
        return b""


class HeraldWorker(ThreadWorker):
    """gunicorn's ``gthread`` worker that gives its threads whole requests only, and whose own error
    responses (requests it refuses) are JSON."""

    def init_process(self):
        """Write gunicorn's refusals as JSON in this worker process, then serve."""
        # Replaced once for the whole process, before any thread runs: this process serves only Herald.
        util.write_error = write_json_error
        self.limits = getattr(self.app, "limits", None) or ServingLimits()
        self.gathering: dict = {}  # connection -> its RequestGatherer
        self.lingering: dict = {}  # connection -> when it is closed at the latest
        super().init_process()

    def load_wsgi(self):
        """Load the application, wrapped to read what it left of a request body."""
        super().load_wsgi()
        self.wsgi = drain_unread_body(self.wsgi)

    def enqueue_req(self, conn):
        """Gather the connection's next request in the main loop; a thread gets it once it is whole."""
        if not isinstance(conn.sock, ReplaySocket):
            conn.sock = ReplaySocket(conn.sock)
        if conn.sock.read_past_gathered:  # gunicorn may hold bytes of the next request: it reads on
            conn.sock.read_past_gathered = False
            super().enqueue_req(conn)
            return
        now = time.monotonic()
        gatherer = RequestGatherer(self.limits.body_limit, now)
        carry, conn.sock.carry = conn.sock.carry, b""
        conn.sock.setblocking(False)
        self.gathering[conn] = gatherer
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_request_bytes, conn))
        if carry:
            self.judge(conn, gatherer, gatherer.feed(carry, now))
        else:
            self.on_request_bytes(conn, conn.sock)  # often the request is there already: no wait for the poller

    def on_request_bytes(self, conn, _sock=None):
        """Read what the client sent and act on what the request looks like now."""
        gatherer = self.gathering.get(conn)
        if gatherer is None:
            return
        data = _read_available(conn)
        if data is None:
            return
        if not data and not gatherer.size:  # closed before sending anything
            self.drop(conn)
            return
        self.judge(conn, gatherer, gatherer.feed(data, time.monotonic()))

    def judge(self, conn, gatherer: RequestGatherer, verdict: Verdict) -> None:
        """Hand a whole (or unframeable) request to a thread, refuse one too large, or keep waiting."""
        if verdict is Verdict.WAIT:
            if gatherer.wants_continue and not gatherer.continue_sent:
                self.send_now(conn, CONTINUE)
                gatherer.continue_sent = True
            return
        self.stop_gathering(conn)
        if verdict is Verdict.TOO_LARGE:
            gatherer.discard()
            self.refuse(conn, 413, "Content Too Large", f"The request body is larger than Herald accepts "
                        f"({self.limits.body_limit} bytes)")
            return
        conn.sock.carry = gatherer.trailing
        conn.sock.replay(gatherer.request_bytes(), time.monotonic() + self.limits.request_timeout,
                         continue_sent=gatherer.continue_sent)
        conn.data_ready = True  # gthread would otherwise wait for more bytes on the socket first
        super().enqueue_req(conn)

    def stop_gathering(self, conn) -> None:
        """Take the connection out of the gathering and the poller."""
        self.gathering.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def drop(self, conn) -> None:
        """Close a connection that is being gathered, without an answer."""
        gatherer = self.gathering.get(conn)
        self.stop_gathering(conn)
        if gatherer is not None:
            gatherer.discard()
        self.nr_conns -= 1
        conn.close()

    def refuse(self, conn, status: int, reason: str, message: str) -> None:
        """Answer ``status`` in the envelope and close the connection."""
        self.send_now(conn, error_message(status, reason, message))
        self.nr_conns -= 1
        self.linger(conn)

    @staticmethod
    def send_now(conn, data: bytes) -> None:
        """Send a short answer without waiting (the socket's buffer holds it); a client gone is ignored."""
        with contextlib.suppress(OSError):
            conn.sock.send(data)

    def linger(self, conn) -> None:
        """Close the connection after the client has read the answer: its side is shut at once, what it
        still sends is read and dropped in the main loop for up to 2 s (closing with unread bytes would
        reset the connection and lose the answer)."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_lingering_bytes, conn))
        except (OSError, ValueError, KeyError):
            conn.close()
            return
        self.lingering[conn] = time.monotonic() + LINGER_SECONDS

    def on_lingering_bytes(self, conn, _sock=None):
        """Drop what a closing connection sends; close it at its end."""
        if _read_available(conn) == b"":
            self.close_lingering(conn)

    def close_lingering(self, conn) -> None:
        """Close a lingering connection."""
        self.lingering.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        conn.close()

    def finish_request(self, conn, fs):
        """gthread's, but a connection to close lingers in the main loop (gthread waits up to 2 s there
        for the client to close, and answers nobody meanwhile)."""
        if not fs.cancelled() and fs.exception() is None and not fs.result():
            self.nr_conns -= 1
            self.linger(conn)
            return
        super().finish_request(conn, fs)

    def murder_keepalived(self, force=False):
        """gthread's expiry of idle kept-alive connections, then of stalled requests and lingering closes."""
        super().murder_keepalived(force)
        now = time.monotonic()
        for conn, gatherer in list(self.gathering.items()):
            if force or not self.alive:
                self.drop(conn)
            elif gatherer.stalled(now, self.limits.request_timeout):
                if gatherer.size:
                    gatherer.discard()
                    self.stop_gathering(conn)
                    self.refuse(conn, 408, "Request Timeout", f"The request did not arrive whole within "
                                f"{self.limits.request_timeout:g} s")
                else:
                    self.drop(conn)
        for conn, deadline in list(self.lingering.items()):
            if force or now >= deadline:
                self.close_lingering(conn)


class HeraldLogger(Logger):
    """gunicorn's logger whose access and error lines carry no secret of a URL (a portal link's token,
    a media link's signature: :mod:`herald.net.redaction`)."""

    def setup(self, cfg):
        """Set up gunicorn's logs, then redact on each of their handlers."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(RedactSecrets())
