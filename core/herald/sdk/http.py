"""Outbound HTTP to addresses a user gave (webhook receivers, pages to read): checked against
private, loopback, link-local and metadata addresses before any connection, and pinned to the
address checked, so a name that resolves differently later cannot reach inside the network.
"""

from __future__ import annotations

from ..net.guard import BlockedURL, ConnectionPool, Response, Target, Unresolvable, check_url, post, send, still_open

__all__ = ["BlockedURL", "ConnectionPool", "Response", "Target", "Unresolvable", "check_url", "post", "send",
           "still_open"]
