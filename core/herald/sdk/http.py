"""Outbound HTTP: the one client Herald and its plugins use (:mod:`herald.net.http`).

For an address a user gave (a webhook receiver, a page): :func:`check_url` first (raises
:class:`BlockedURL` for private, loopback, link-local and metadata addresses, before any
connection), then :func:`send` or :func:`post` to the checked :class:`Target` (pinned to the checked
addresses). For an API at an address the operator configured: :func:`request` (proxy-aware). Both
keep connections alive in a :class:`ConnectionPool` and fail with :class:`SendFailed` (nothing was
sent: safe to try again) or :class:`AnswerLost` (it may have taken effect).
"""

from __future__ import annotations

from ..net.guard import BlockedURL, Target, Unresolvable, check_url
from ..net.http import (
    AnswerLost,
    ConnectionPool,
    Response,
    SendFailed,
    post,
    request,
    send,
    still_open,
)

__all__ = ["AnswerLost", "BlockedURL", "ConnectionPool", "Response", "SendFailed", "Target", "Unresolvable",
           "check_url", "post", "request", "send", "still_open"]
