"""The SSRF guard: every place Herald fetches a user-supplied URL goes through here.

:func:`check_url` parses a URL (http and https only, no credentials), resolves its host and checks
*every* address it resolves to; :func:`post` then connects to one of those checked addresses
itself, so a DNS answer that changes between the check and the connection (DNS rebinding) cannot
redirect the request. The Host header and TLS server name stay the URL's host, so certificates
are verified as usual. Redirects are never followed.

Refused always: link-local (including the cloud metadata address 169.254.169.254), multicast,
unspecified, reserved and the other special-purpose ranges, and metadata host names. Refused
unless ``allow_private`` (``HERALD_WEBHOOK_ALLOW_PRIVATE=1``, for tests and closed networks):
loopback and private ranges (RFC 1918, unique-local IPv6, carrier-grade NAT). IPv4 addresses
embedded in IPv6 (mapped, compatible, 6to4, NAT64, Teredo) are judged by the IPv4 address.
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

DEFAULT_TIMEOUT = 15.0
# Host names that answer with cloud-instance metadata, whatever they resolve to.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata.amazonaws.com",
                            "metadata", "instance-data", "instance-data.ec2.internal", "metadata.azure.com"})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"))
_net = ipaddress.ip_network
# Reachable only on closed networks: allowed with allow_private.
PRIVATE_NETWORKS = tuple(_net(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "::1/128", "fc00::/7"))
# Never a webhook receiver, whatever the settings.
BLOCKED_NETWORKS = tuple(_net(n) for n in (
    "0.0.0.0/8", "169.254.0.0/16", "192.0.0.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "fe80::/10", "fec0::/10", "ff00::/8"))
_NAT64 = (_net("64:ff9b::/96"), _net("64:ff9b:1::/48"))
_COMPATIBLE = _net("::/96")
_NUMERIC = re.compile(r"[0-9a-fx.]+")


class BlockedURL(ValueError):
    """The URL may not be fetched; ``reason`` says why in words a customer can act on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Unresolvable(BlockedURL):
    """The host name did not resolve (it may later: delivery time checks again)."""


@dataclasses.dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``addresses``, every one checked) and what to ask for."""

    scheme: str
    host: str  # as sent in Host / SNI (IDNA-encoded, no trailing dot)
    port: int
    path: str  # path and query
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        """The Host header value (with the port when it is not the scheme's default)."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class Response:
    """What came back: status, headers (lower-case names), the first bytes of the body, duration."""

    status: int
    headers: dict[str, str]
    body: bytes
    duration_ms: int


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64) or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress | str, allow_private: bool = False) -> str | None:
    """Why Herald may not connect to ``ip`` (``None`` when it may)."""
    ip = ipaddress.ip_address(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return f"{ip} is a link-local address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            problem = address_problem(embedded, allow_private)
            return f"{ip} embeds {problem}" if problem else None
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    if any(ip in net for net in BLOCKED_NETWORKS) or ip.is_multicast or ip.is_link_local:
        return f"{ip} is a link-local, multicast or reserved address"
    if any(ip in net for net in PRIVATE_NETWORKS):
        return None if allow_private else f"{ip} is a loopback or private address"
    if not ip.is_global:
        return f"{ip} is a special-purpose address that is not reachable on the internet"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA), as strings."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _normalise_host(raw: str) -> str:
    host = raw.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if "%" in host:
        raise BlockedURL("addresses with a zone (%) are not allowed")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("ascii")  # also maps full-width and ideographic dots to "."
    except UnicodeError:
        raise BlockedURL(f"{raw!r} is not a valid host name") from None
    host = host.lower().rstrip(".")
    if _NUMERIC.fullmatch(host):
        # Decimal, octal and hex forms ("2130706433", "0177.1", "0x7f.0.0.1") mean an IPv4 address
        # to the system resolver; read them the same way here.
        try:
            return str(ipaddress.IPv4Address(socket.inet_aton(host)))
        except OSError:
            pass
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_url(url: str) -> tuple[str, str, int, str]:
    """Scheme, normalised host, port and path of ``url``; :class:`BlockedURL` when it is not acceptable."""
    if not isinstance(url, str) or any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise BlockedURL("the URL must not contain spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedURL("only http and https URLs are allowed")
    if "@" in parts.netloc:
        raise BlockedURL("URLs with a user name or password are not allowed")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise BlockedURL("the port is not a number between 1 and 65535") from None
    if not parts.hostname:
        raise BlockedURL("the URL has no host")
    host = _normalise_host(parts.hostname)
    if not host:
        raise BlockedURL("the URL has no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port, path


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _name_problem(host: str, allow_private: bool) -> str | None:
    if host in METADATA_HOSTS:
        return f"{host} is a cloud metadata host"
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        return f"{host} is this machine"
    return None


def check_url(url: str, *, allow_private: bool = False, resolver: Resolver | None = None) -> Target:
    """Parse, resolve and check ``url``; raises :class:`BlockedURL` naming the first problem.

    Every address the host resolves to must be acceptable (one bad answer refuses the URL), and
    the returned :class:`Target` carries those addresses for :func:`post` to connect to.
    """
    scheme, host, port, path = parse_url(url)
    problem = _name_problem(host, allow_private)
    if problem:
        raise BlockedURL(problem)
    if _is_ip(host):
        addresses = [host]
    else:
        try:
            addresses = (resolver or system_resolver)(host, port)
        except (OSError, UnicodeError) as exc:
            raise Unresolvable(f"{host} could not be resolved ({exc})") from None
        if not addresses:
            raise Unresolvable(f"{host} could not be resolved")
    for address in addresses:
        try:
            problem = address_problem(address, allow_private)
        except ValueError:
            problem = f"{address} is not an IP address"
        if problem:
            raise BlockedURL(problem if address == host else f"{host} resolves to {problem}")
    return Target(scheme, host, port, path, tuple(addresses))


def _open(address: str, port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection((address, port), timeout)
    # As most HTTP clients do: a request written in parts is not held back waiting for an ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a fixed, already-checked address (Host stays the URL's host)."""

    def __init__(self, target: Target, address: str, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self):
        """Open the socket to the checked address, never to a fresh DNS answer."""
        self.sock = _open(self._address, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a fixed, already-checked address; SNI and certificate checks use the host."""

    def __init__(self, target: Target, address: str, timeout: float, context: ssl.SSLContext | None):
        super().__init__(target.host, target.port, timeout=timeout, context=context or ssl.create_default_context())
        self._address = address

    def connect(self):
        """Open the socket to the checked address and start TLS for the URL's host name."""
        sock = _open(self._address, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class ConnectionPool:
    """Idle keep-alive connections for :func:`send`, each to the address it was opened to.

    A connection is reused only for the same scheme, host and port, when its address is among the
    addresses of the current check (so every request still goes to an address checked for it),
    within ``idle_seconds`` of its last answer, and when the server has not closed it meanwhile.
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


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float = DEFAULT_TIMEOUT,
         read_limit: int = 4096, ssl_context: ssl.SSLContext | None = None,
         pool: ConnectionPool | None = None) -> Response:
    """POST ``body`` to ``target`` (a :func:`check_url` result); redirects are returned, not followed.

    Tries the checked addresses in order until one accepts the connection. Raises ``OSError``
    (including timeouts) or ``http.client.HTTPException`` when no response arrives. With ``pool``,
    keep-alive connections are reused (see :class:`ConnectionPool`).
    """
    return send("POST", target, body, headers, timeout=timeout, read_limit=read_limit, ssl_context=ssl_context,
                pool=pool)


# A reused connection the server closed just before the request fails like this; the request is
# then sent once more on a new connection (receivers de-duplicate on webhook-id anyway).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def send(method: str, target: Target, body: bytes | None, headers: dict[str, str], *,
         timeout: float = DEFAULT_TIMEOUT, read_limit: int = 4096, deadline: float | None = None,
         ssl_context: ssl.SSLContext | None = None, pool: ConnectionPool | None = None) -> Response:
    """Send one request to ``target`` and read at most ``read_limit`` bytes of the answer.

    ``deadline`` (a ``time.monotonic()`` value) stops reading a slow answer: ``TimeoutError``.
    Redirects are returned, not followed. Raises like :func:`post`. With ``pool``, an idle
    connection to one of the target's (checked) addresses is reused, and the connection is kept
    for the next request when the whole answer was read and the server did not ask to close it.
    """
    started = time.monotonic()
    last_error: Exception | None = None
    for address in target.addresses:
        conn = pool.take(target, address) if pool is not None else None
        if conn is not None:
            conn.sock.settimeout(timeout)
            try:
                return _exchange(conn, method, target, body, headers, read_limit, deadline, started, pool, address)
            except _STALE:
                pass  # closed by the server meanwhile: a new connection below
        conn = _connection(target, address, timeout, ssl_context)
        try:
            conn.connect()
        except OSError as exc:  # refused, unreachable, timed out, TLS refused: nothing was sent, try the next
            conn.close()
            last_error = exc
            continue
        return _exchange(conn, method, target, body, headers, read_limit, deadline, started, pool, address)
    raise last_error or OSError("no address to connect to")


def _connection(target: Target, address: str, timeout: float,
                ssl_context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target, address, timeout, ssl_context)
    return _PinnedHTTPConnection(target, address, timeout)


def _exchange(conn: http.client.HTTPConnection, method: str, target: Target, body: bytes | None,
              headers: dict[str, str], read_limit: int, deadline: float | None, started: float,
              pool: ConnectionPool | None, address: str) -> Response:
    """One request and its answer on the open ``conn``; the connection is pooled or closed afterwards."""
    keep = False
    try:
        conn.putrequest(method, target.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        extra = {"Content-Length": str(len(body))} if body is not None else {}
        for name, value in {**headers, **extra}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        reply = conn.getresponse()
        data = _read(reply, read_limit, deadline)
        # Reusable only when the answer was read to its end and the server keeps the connection.
        keep = pool is not None and reply.isclosed() and not reply.will_close
        return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, data,
                        int((time.monotonic() - started) * 1000))
    finally:
        if keep:
            pool.give(target, address, conn)
        else:
            conn.close()


def _read(reply: http.client.HTTPResponse, limit: int, deadline: float | None) -> bytes:
    if deadline is None:
        return reply.read(limit)
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took too long to arrive")
        chunk = reply.read1(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
