"""HTTP for the Graph client: kept-alive connections per thread and host, urllib behind a proxy.

A worker publishing a post makes two to five Graph calls; opening a TCP (and TLS) connection for
each costs more than the call. Connections are kept per thread and host and reused while they
have been idle for less than :data:`IDLE_SECONDS` (servers close idle connections after a while;
reusing a connection the server already closed loses the request, see :func:`send`).

When the environment names a proxy for the host (``HTTPS_PROXY`` …), requests go through urllib,
which honours it, one connection per call as before.
"""

from __future__ import annotations

import dataclasses
import functools
import http.client
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message

from herald.sdk.http import still_open

IDLE_SECONDS = 4.0
# How a kept connection the server closed in the meantime fails (a timeout is not one of them).
CLOSED_BY_SERVER = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

_local = threading.local()


@dataclasses.dataclass
class Answer:
    """A complete HTTP answer."""

    status: int
    headers: Message
    body: bytes


class SendFailed(Exception):
    """Nothing reached the server (connecting or sending failed): safe to try again."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.reason = cause


class AnswerLost(Exception):
    """The request was sent but no complete answer came back: it may have taken effect."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.reason = cause


def send(method: str, url: str, *, body: bytes | None, headers: dict[str, str], timeout: float) -> Answer:
    """Send one request and read the whole answer (any status).

    Raises :class:`SendFailed` or :class:`AnswerLost`. On a reused connection, a request that
    could not be sent, or a GET whose answer was cut off because the server had closed the
    connection, is sent once more on a new connection; a POST whose answer was lost is not, since
    the server may have acted on it: the caller's ``AnswerLost`` handling decides.
    """
    split = urllib.parse.urlsplit(url)
    if _proxied(split):
        return _send_with_urllib(method, url, body, headers, timeout)
    target = split.path + (f"?{split.query}" if split.query else "")
    key = (split.scheme, split.netloc)
    connection, reused = _checkout(key, timeout)
    try:
        return _exchange(connection, key, method, target, body, headers)
    except SendFailed:
        if not reused:
            raise
    except AnswerLost as exc:
        if not (reused and method == "GET" and isinstance(exc.reason, CLOSED_BY_SERVER)):
            raise
    connection, _ = _checkout(key, timeout, fresh=True)
    return _exchange(connection, key, method, target, body, headers)


def _exchange(connection: http.client.HTTPConnection, key, method, target, body, headers) -> Answer:
    try:
        connection.request(method, target, body=body, headers=headers)
    except OSError as exc:
        connection.close()
        raise SendFailed(exc) from None
    try:
        response = connection.getresponse()
        data = response.read()
    except (http.client.HTTPException, OSError) as exc:
        connection.close()
        raise AnswerLost(exc) from None
    if response.will_close:
        connection.close()
    else:
        _pool()[key] = (connection, time.monotonic())
    return Answer(response.status, response.headers, data)


def _pool() -> dict:
    pool = getattr(_local, "connections", None)
    if pool is None:
        pool = _local.connections = {}
    return pool


def _checkout(key: tuple[str, str], timeout: float, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
    """A connection to ``key``'s host: the idle one of this thread when recent enough, else a new one."""
    kept = _pool().pop(key, None)
    if kept is not None:
        connection, idle_since = kept
        # A connection the server closed while it was idle would lose the request sent on it.
        if not fresh and time.monotonic() - idle_since < IDLE_SECONDS and still_open(connection):
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            return connection, True
        connection.close()
    scheme, netloc = key
    if scheme == "https":
        return http.client.HTTPSConnection(netloc, timeout=timeout, context=ssl.create_default_context()), False
    return http.client.HTTPConnection(netloc, timeout=timeout), False


def close_all() -> None:
    """Close this thread's kept connections."""
    pool = _pool()
    while pool:
        _, (connection, _) = pool.popitem()
        connection.close()


def _proxied(split: urllib.parse.SplitResult) -> bool:
    return _proxied_host(split.scheme, split.hostname or "")


@functools.lru_cache(maxsize=64)
def _proxied_host(scheme: str, hostname: str) -> bool:
    # Read once per host: getproxies() scans the whole environment, which cost more than a call.
    proxies = urllib.request.getproxies()
    return scheme in proxies and not urllib.request.proxy_bypass(hostname)


def _send_with_urllib(method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, exc.headers, exc.read())
    except urllib.error.URLError as exc:  # raised while connecting or sending
        raise SendFailed(exc.reason) from None
    except (http.client.HTTPException, OSError) as exc:
        raise AnswerLost(exc) from None
    with response:
        try:
            return Answer(response.status, response.headers, response.read())
        except (http.client.HTTPException, OSError) as exc:
            raise AnswerLost(exc) from None
