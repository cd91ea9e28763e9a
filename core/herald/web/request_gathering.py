"""Whole requests before a thread: the bytes of one HTTP request, gathered without blocking, and the
client socket that gives them back to gunicorn's parser.

A threaded gunicorn worker hands a connection to a thread as soon as its first bytes arrive, and
the thread then blocks until the request is whole: ten clients that send half a request and wait
held every thread, and nobody else was answered. ``herald serve``'s worker (:mod:`herald.web.serving`)
instead reads each request in its main loop, next to the connections it already watches, into a
:class:`RequestGatherer` (in memory, on disk past 1 MiB); h11 frames it (headers, ``Content-Length``
or chunks). Only a whole request goes to a thread, where gunicorn parses it from those bytes through
a :class:`ReplaySocket`, as before. What h11 cannot frame (not HTTP, a malformed chunk, a client
that closed early) goes to gunicorn at once, which answers it as it always did (in Herald's
envelope); reads past the gathered bytes then wait at most the request timeout.
"""

from __future__ import annotations

import enum
import select
import tempfile
import time

import h11

MEMORY_SPOOL_BYTES = 1024 * 1024  # a request's bytes past this go to a temporary file
# h11's limit on the request line and headers. gunicorn's own limits are smaller and answer 414/431
# with its words; past this h11 gives up and gunicorn reads (and refuses) the request.
HEADER_BLOCK_LIMIT = 256 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Verdict(enum.Enum):
    """What the bytes gathered so far say."""

    WAIT = "wait"  # not whole yet
    COMPLETE = "complete"  # the whole request is here
    HAND_OVER = "hand over"  # h11 cannot frame it (or the client closed early): gunicorn judges
    TOO_LARGE = "too large"  # the body is over the limit: answer 413 without reading it


class RequestGatherer:
    """Collects one request's bytes until h11 says it is whole; the times say when it has stalled."""

    def __init__(self, body_limit: int, now: float):
        self.body_limit = body_limit
        self.started = self.last_bytes = now
        self.size = 0
        self.headers_done = False
        self.wants_continue = False  # the client waits for "100 Continue" before its body
        self.continue_sent = False  # the main loop answered it with "100 Continue"
        self.trailing = b""  # bytes after the request: the next one, pipelined
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=HEADER_BLOCK_LIMIT)
        self._spool = tempfile.SpooledTemporaryFile(max_size=MEMORY_SPOOL_BYTES)  # noqa: SIM115 - lives on
        self._body = 0

    def feed(self, data: bytes, now: float) -> Verdict:
        """Add ``data`` (``b""``: the client closed its side) and say what the request looks like now."""
        if data:
            self.last_bytes = now
            self._spool.write(data)
            self.size += len(data)
        try:
            self._h11.receive_data(data)
            return self._verdict(closed=not data)
        except h11.RemoteProtocolError:
            return Verdict.HAND_OVER

    def _verdict(self, *, closed: bool) -> Verdict:
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                if closed:  # the client closed before the end: gunicorn reads what came and answers
                    return Verdict.HAND_OVER
                self.wants_continue = self._h11.they_are_waiting_for_100_continue
                return Verdict.WAIT
            if isinstance(event, h11.Request):
                self.headers_done = True
                length = dict(event.headers).get(b"content-length")
                if length is not None and int(length) > self.body_limit:
                    return Verdict.TOO_LARGE
            elif isinstance(event, h11.Data):
                self._body += len(event.data)
                if self._body > self.body_limit:
                    return Verdict.TOO_LARGE
            elif isinstance(event, h11.EndOfMessage):
                self.trailing = self._h11.trailing_data[0]
                return Verdict.COMPLETE
            else:  # ConnectionClosed, PAUSED
                return Verdict.HAND_OVER

    def stalled(self, now: float, timeout: float) -> bool:
        """Whether the client sent nothing for ``timeout`` s, or has not finished its headers in that time."""
        return now - self.last_bytes > timeout or (not self.headers_done and now - self.started > timeout)

    def request_bytes(self):
        """The gathered bytes as a file at its start, without the pipelined bytes of a next request."""
        if self.trailing:
            self._spool.truncate(self.size - len(self.trailing))
        self._spool.seek(0)
        return self._spool

    def discard(self) -> None:
        """Free the gathered bytes (the request will not be served)."""
        self._spool.close()


class ReplaySocket:
    """A client socket whose ``recv`` returns a gathered request's bytes first, then reads the socket.

    Reads past the gathered bytes (a request h11 could not frame, which gunicorn reads on) wait at
    most until the deadline of :meth:`replay`, then read as the end of the stream: a stalled client
    holds a thread for the request timeout at most. Everything else is the socket's own.
    """

    def __init__(self, sock):
        self._sock = sock
        self._replay = None
        self._deadline: float | None = None
        self._continue_sent = False
        self.carry = b""  # the start of the next request, read with this one
        self.read_past_gathered = False  # a thread read beyond the gathered bytes

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def fileno(self) -> int:
        """The socket's descriptor."""
        return self._sock.fileno()

    def read_now(self, size: int) -> bytes:
        """What the client sent so far, without waiting (the socket is non-blocking in the main loop)."""
        return self._sock.recv(size)

    def replay(self, request_bytes, deadline: float, continue_sent: bool) -> None:
        """Give ``request_bytes`` (a file) to the next reads; reads past them end at ``deadline``."""
        self._replay = request_bytes
        self._deadline = deadline
        self._continue_sent = continue_sent
        self.read_past_gathered = False

    def send(self, data, *flags) -> int:
        """``socket.send``; the second "100 Continue" (the main loop sent one already) is not repeated."""
        if self._continue_sent and bytes(data) == CONTINUE:
            self._continue_sent = False
            return len(data)
        return self._sock.send(data, *flags)

    def recv(self, size: int, *flags) -> bytes:
        """The gathered bytes first, then the socket's, until the deadline."""
        if self._replay is not None:
            data = self._replay.read(size)
            if data:
                return data
            self._replay.close()
            self._replay = None
        if self._deadline is not None:
            self.read_past_gathered = True
            remaining = self._deadline - time.monotonic()
            if remaining <= 0 or not _readable(self._sock, remaining):
                return b""  # a client that stalls past the deadline is treated as gone
        return self._sock.recv(size, *flags)

    def close(self) -> None:
        """Close the socket and drop what was gathered."""
        if self._replay is not None:
            self._replay.close()
            self._replay = None
        self._sock.close()


def _readable(sock, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(timeout * 1000))
