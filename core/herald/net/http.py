"""Herald's one outbound HTTP client: pooled keep-alive connections, SSRF-guarded where a user gave
the URL, proxy-aware where the operator did.

Two ways in, one machinery:

- :func:`send` sends to a :class:`~herald.net.guard.Target` that :func:`herald.net.guard.check_url`
  checked (a webhook receiver, a page to read: URLs users gave). It connects to the checked
  addresses only, never through a proxy (a proxy would resolve the name again, after the check).
  :func:`streamed` does the same for an answer read in pieces (a large download), and
  :func:`get_checked` GETs a user's URL, checking every redirect with the guard before following it.
- :func:`request` calls an API at a URL the operator configured (a platform's, an AI provider's). It is not
  checked, and goes through the proxy the environment names for its host (``HTTPS_PROXY``,
  ``NO_PROXY``), one connection per call there, as urllib does.

Idle connections are kept in a :class:`ConnectionPool` and reused while recent and still open.
Failures are one of two kinds, which decide whether a request may be sent again:
:class:`SendFailed` (nothing reached the server) and :class:`AnswerLost` (the request went out and
no complete answer came back: it may have taken effect). On a reused connection that the server
had closed meanwhile, a request that could not be sent goes once more on a new connection, and so
does an idempotent one whose answer was cut off; anything else is the caller's to decide.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.client
import select
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator

from .guard import BlockedURL, Resolver, Target, check_url, parse_url

DEFAULT_TIMEOUT = 15.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# How a kept connection the server closed in the meantime fails (a timeout is not one of them).
CLOSED_BY_SERVER = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class SendFailed(OSError):
    """Nothing reached the server (connecting or sending failed): safe to try again. ``reason`` is
    the underlying error."""

    def __init__(self, reason: BaseException):
        super().__init__(str(reason) or type(reason).__name__)
        self.reason = reason


class AnswerLost(OSError):
    """The request was sent but no complete answer came back (it may have taken effect). ``reason``
    is the underlying error; :attr:`timed_out` tells a slow server from a dropped connection."""

    def __init__(self, reason: BaseException):
        super().__init__(str(reason) or type(reason).__name__)
        self.reason = reason

    @property
    def timed_out(self) -> bool:
        """Whether the answer did not come in time (rather than the connection breaking)."""
        return isinstance(self.reason, TimeoutError)


@dataclasses.dataclass(frozen=True)
class Response:
    """What came back: status, headers (lower-case names), the body (up to the read limit), duration."""

    status: int
    headers: dict[str, str]
    body: bytes
    duration_ms: int


@functools.cache
def _default_tls() -> ssl.SSLContext:
    # Loading the system's certificates takes milliseconds: once per process, not per connection.
    return ssl.create_default_context()


def _open(address: str, port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection((address, port), timeout)
    # As most HTTP clients do: a request written in parts is not held back waiting for an ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a fixed address (a checked one; Host stays the URL's host)."""

    def __init__(self, target: Target, address: str, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self):
        """Open the socket to the given address, never to a fresh DNS answer."""
        self.sock = _open(self._address, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a fixed address; SNI and certificate checks use the URL's host."""

    def __init__(self, target: Target, address: str, timeout: float, context: ssl.SSLContext | None):
        super().__init__(target.host, target.port, timeout=timeout, context=context or _default_tls())
        self._address = address

    def connect(self):
        """Open the socket to the given address and start TLS for the URL's host name."""
        sock = _open(self._address, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class ConnectionPool:
    """Idle keep-alive connections, each to the address it was opened to.

    A connection is reused only for the same scheme, host and port, when its address is among the
    target's (for a checked target: every request still goes to an address checked for it), within
    ``idle_seconds`` of its last answer, and when the server has not closed it meanwhile.
    Thread-safe; at most ``per_key`` idle connections per address and ``max_idle`` in all.
    """

    def __init__(self, idle_seconds: float = 4.0, per_key: int = 4, max_idle: int = 64,
                 clock: Callable[[], float] = time.monotonic):
        self.idle_seconds = idle_seconds
        self.per_key = per_key
        self.max_idle = max_idle
        self._clock = clock
        self._idle: dict[tuple, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(target: Target, address: str) -> tuple:
        return target.scheme, target.host, target.port, address

    def take(self, target: Target, address: str) -> http.client.HTTPConnection | None:
        """An idle connection to ``address`` for ``target`` that may be used now, or None."""
        now = self._clock()
        while True:
            with self._lock:
                idle = self._idle.get(self._key(target, address))
                if not idle:
                    return None
                conn, since = idle.pop()  # the most recently used: the least likely to be closed
            if now - since <= self.idle_seconds and still_open(conn):
                return conn
            conn.close()

    def give(self, target: Target, address: str, conn: http.client.HTTPConnection) -> None:
        """Keep ``conn`` (whose last answer was read completely) for the next request."""
        drop = []
        with self._lock:
            idle = self._idle.setdefault(self._key(target, address), [])
            idle.append((conn, self._clock()))
            if len(idle) > self.per_key:
                drop.append(idle.pop(0)[0])
            if sum(len(entries) for entries in self._idle.values()) > self.max_idle:
                oldest = min((entries for entries in self._idle.values() if entries), key=lambda e: e[0][1])
                drop.append(oldest.pop(0)[0])
        for stale in drop:
            stale.close()

    def idle_count(self) -> int:
        """How many idle connections the pool holds."""
        with self._lock:
            return sum(len(entries) for entries in self._idle.values())

    def clear(self) -> None:
        """Close every idle connection."""
        with self._lock:
            entries = [conn for idle in self._idle.values() for conn, _ in idle]
            self._idle.clear()
        for conn in entries:
            conn.close()


# The pool of request(): calls to the operator's APIs from every thread of the process.
SHARED_POOL = ConnectionPool()


def still_open(conn: http.client.HTTPConnection) -> bool:
    """False when the server closed the idle connection (or sent something unasked)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def send(method: str, target: Target, body: bytes | None, headers: dict[str, str], *,
         timeout: float = DEFAULT_TIMEOUT, read_limit: int | None = 4096, deadline: float | None = None,
         ssl_context: ssl.SSLContext | None = None, pool: ConnectionPool | None = None,
         idempotent: bool | None = None) -> Response:
    """Send one request to ``target`` and read at most ``read_limit`` bytes of the answer (None: all).

    Tries the target's addresses in order until one accepts the connection; redirects are returned,
    not followed. ``deadline`` (a ``time.monotonic()`` value) stops reading a slow answer. With
    ``pool``, an idle connection to one of the addresses is reused and the connection is kept when
    the whole answer was read and the server did not ask to close it. ``idempotent`` (default: by
    the method) lets a request whose answer was cut off on a reused connection go once more.
    Raises :class:`SendFailed` or :class:`AnswerLost`.
    """
    started = time.monotonic()
    repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
    last_error: BaseException | None = None
    for address in target.addresses:
        conn = pool.take(target, address) if pool is not None else None
        if conn is not None:
            conn.sock.settimeout(timeout)
            try:
                return _exchange(conn, method, target, body, headers, read_limit, deadline, started, pool, address)
            except SendFailed:
                pass  # closed by the server meanwhile, before the request went out: a new connection below
            except AnswerLost as exc:
                if not (repeatable and isinstance(exc.reason, CLOSED_BY_SERVER)):
                    raise
        conn = _connection(target, address, timeout, ssl_context)
        try:
            conn.connect()
        except OSError as exc:  # refused, unreachable, timed out, TLS refused: nothing was sent, try the next
            conn.close()
            last_error = exc
            continue
        return _exchange(conn, method, target, body, headers, read_limit, deadline, started, pool, address)
    raise SendFailed(last_error or OSError("no address to connect to"))


def post(target: Target, body: bytes, headers: dict[str, str], **options) -> Response:
    """POST ``body`` to ``target``: :func:`send` with the method filled in."""
    return send("POST", target, body, headers, **options)


class Streamed:
    """An answer whose body the caller reads piece by piece (:func:`streamed`), for bodies too large
    to hold in memory: status and headers (lower-case names) first, then :meth:`chunks`."""

    def __init__(self, reply: http.client.HTTPResponse, conn: http.client.HTTPConnection, deadline: float | None):
        self.status = reply.status
        self.headers = {k.lower(): v for k, v in reply.getheaders()}
        self._reply = reply
        self._conn = conn
        self._deadline = deadline

    @property
    def declared_length(self) -> int | None:
        """The body's length as Content-Length declares it (None when absent or not a number)."""
        value = self.headers.get("content-length", "")
        return int(value) if value.isascii() and value.isdigit() else None

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        """The body as it arrives; :class:`AnswerLost` when the connection breaks, the body ends
        before its Content-Length, or the deadline passes."""
        while True:
            if self._deadline is not None:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise AnswerLost(TimeoutError("the answer took too long to arrive"))
                if self._conn.sock is not None:
                    self._conn.sock.settimeout(min(remaining, self._conn.timeout or remaining))
            try:
                chunk = self._reply.read1(size)
            except (http.client.HTTPException, OSError) as exc:
                raise AnswerLost(exc) from None
            if not chunk:
                if self._reply.length:  # what Content-Length promised and did not come
                    raise AnswerLost(http.client.IncompleteRead(b"", self._reply.length))
                return
            yield chunk


@contextlib.contextmanager
def streamed(method: str, target: Target, headers: dict[str, str], *, timeout: float = DEFAULT_TIMEOUT,
             deadline: float | None = None, ssl_context: ssl.SSLContext | None = None) -> Iterator[Streamed]:
    """Send a request without a body to a checked ``target`` and hand over its answer to read in pieces.

    As :func:`send`, it connects to the target's addresses only and returns redirects unfollowed;
    the connection is its own (never pooled) and closed when the block ends. Raises
    :class:`SendFailed` or :class:`AnswerLost`.
    """
    last_error: BaseException | None = None
    for address in target.addresses:
        conn = _connection(target, address, timeout, ssl_context)
        try:
            conn.connect()
        except OSError as exc:  # nothing was sent: try the next address
            conn.close()
            last_error = exc
            continue
        try:
            _put_request(conn, method, target, None, headers)
            try:
                reply = conn.getresponse()
            except (http.client.HTTPException, OSError) as exc:
                raise AnswerLost(exc) from None
            yield Streamed(reply, conn, deadline)
            return
        finally:
            conn.close()
    raise SendFailed(last_error or OSError("no address to connect to"))


REDIRECTS = frozenset({301, 302, 303, 307, 308})


class TooManyRedirects(OSError):
    """A user's URL redirected more times than allowed."""


@contextlib.contextmanager
def get_checked(url: str, headers: dict[str, str], *, allow_private: bool, timeout: float = DEFAULT_TIMEOUT,
                max_redirects: int = 3, resolver: Resolver | None = None) -> Iterator[tuple[str, Streamed]]:
    """GET a URL a user gave, through the SSRF guard: yields the final URL and its answer to stream.

    Every hop is checked by :func:`herald.net.guard.check_url` before anything connects to it: the
    URL, then each redirect's ``Location`` (at most ``max_redirects``). ``timeout`` bounds the whole
    exchange, redirects and body included. Raises :class:`~herald.net.guard.BlockedURL` (a refused
    redirect says where it led), :class:`SendFailed`, :class:`AnswerLost` or :class:`TooManyRedirects`.
    """
    deadline = time.monotonic() + timeout
    for hop in range(max_redirects + 1):
        try:
            target = check_url(url, allow_private=allow_private, resolver=resolver)
        except BlockedURL as exc:
            if hop == 0:
                raise
            raise type(exc)(f"it redirects to {url}, which is refused: {exc.reason}") from None
        remaining = max(0.05, deadline - time.monotonic())
        with streamed("GET", target, headers, timeout=min(remaining, DEFAULT_TIMEOUT), deadline=deadline) as answer:
            location = answer.headers.get("location")
            if answer.status in REDIRECTS and location:
                url = urllib.parse.urljoin(url, location)
                continue
            yield url, answer
            return
    raise TooManyRedirects(f"it redirects more than {max_redirects} times")


def request(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str],
            timeout: float = DEFAULT_TIMEOUT, pool: ConnectionPool | None = SHARED_POOL) -> Response:
    """Call an API at a URL the operator configured (not SSRF-checked) and read its whole answer.

    Through the environment's proxy for the URL's host when there is one (urllib, a connection per
    call), else on a kept-alive connection from ``pool``. Raises :class:`SendFailed` or
    :class:`AnswerLost`; an answer of any status is returned.
    """
    scheme, host, port, path = parse_url(url)
    if _proxied_host(scheme, host):
        return _through_proxy(method, url, body, headers, timeout)
    target = Target(scheme, host, port, path, (host,))
    return send(method, target, body, headers, timeout=timeout, read_limit=None, pool=pool)


def _connection(target: Target, address: str, timeout: float,
                ssl_context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target, address, timeout, ssl_context)
    return _PinnedHTTPConnection(target, address, timeout)


def _exchange(conn: http.client.HTTPConnection, method: str, target: Target, body: bytes | None,
              headers: dict[str, str], read_limit: int | None, deadline: float | None, started: float,
              pool: ConnectionPool | None, address: str) -> Response:
    """One request and its answer on the open ``conn``; the connection is pooled or closed afterwards."""
    keep = False
    try:
        _put_request(conn, method, target, body, headers)
        try:
            reply = conn.getresponse()
            data = _read(reply, read_limit, deadline)
        except (http.client.HTTPException, OSError) as exc:
            raise AnswerLost(exc) from None
        # Reusable only when the answer was read to its end and the server keeps the connection.
        keep = pool is not None and reply.isclosed() and not reply.will_close
        return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, data,
                        int((time.monotonic() - started) * 1000))
    finally:
        if keep:
            pool.give(target, address, conn)
        else:
            conn.close()


def _put_request(conn: http.client.HTTPConnection, method: str, target: Target, body: bytes | None,
                 headers: dict[str, str]) -> None:
    """Write the request on ``conn``; :class:`SendFailed` when it cannot be written."""
    try:
        conn.putrequest(method, target.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        extra = {"Content-Length": str(len(body))} if body is not None else {}
        for name, value in {**headers, **extra}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
    except OSError as exc:
        raise SendFailed(exc) from None


def _read(reply: http.client.HTTPResponse, limit: int | None, deadline: float | None) -> bytes:
    if deadline is None:
        return reply.read() if limit is None else reply.read(limit)
    chunks: list[bytes] = []
    size = 0
    while limit is None or size < limit:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took too long to arrive")
        chunk = reply.read1(65536 if limit is None else min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@functools.lru_cache(maxsize=64)
def _proxied_host(scheme: str, host: str) -> bool:
    # Read once per host: getproxies() scans the whole environment, which cost more than a call.
    proxies = urllib.request.getproxies()
    return scheme in proxies and not urllib.request.proxy_bypass(host)


def _through_proxy(method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float) -> Response:
    started = time.monotonic()
    call = urllib.request.Request(url, data=body, method=method, headers=headers)
    # An opener of its own (urlopen's is built once per process): the proxies are the environment's now.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(urllib.request.getproxies()))
    try:
        reply = opener.open(call, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read(),
                            int((time.monotonic() - started) * 1000))
    except urllib.error.URLError as exc:  # raised while connecting or sending
        raise SendFailed(exc.reason if isinstance(exc.reason, BaseException) else exc) from None
    except (http.client.HTTPException, OSError) as exc:
        raise AnswerLost(exc) from None
    with reply:
        try:
            data = reply.read()
        except (http.client.HTTPException, OSError) as exc:
            raise AnswerLost(exc) from None
        return Response(reply.status, {k.lower(): v for k, v in reply.headers.items()}, data,
                        int((time.monotonic() - started) * 1000))
