"""The SSRF guard: every place Herald fetches a user-supplied URL goes through here.

:func:`check_url` parses a URL (http and https only, no credentials), resolves its host and checks
*every* address it resolves to; :func:`herald.net.http.send` then connects to one of those checked
addresses itself, so a DNS answer that changes between the check and the connection (DNS rebinding) cannot
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
import ipaddress
import re
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

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
    the returned :class:`Target` carries those addresses for :func:`herald.net.http.send` to connect to.
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
