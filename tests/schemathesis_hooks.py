"""Schemathesis hooks for tests/test_openapi_schemathesis.py (loaded through ``SCHEMATHESIS_HOOKS``).

The generated requests may hold http(s) URLs (media to import, webhook endpoints, competitor pages),
and a generated URL may name a public address that the SSRF guard lets through. Tests send traffic to
loopback only, so before each call every URL in the request is pointed at loopback, which the server
(without ``HERALD_FETCH_ALLOW_PRIVATE``) refuses before it connects anywhere.
"""

from __future__ import annotations

import re

import schemathesis

_URL = re.compile(r"^[hH][tT][tT][pP][sS]?://")
LOOPBACK = "http://127.0.0.1:9/"


def _to_loopback(value):
    if isinstance(value, str) and _URL.match(value):
        return LOOPBACK + _URL.sub("", value).replace("/", "_")[:100]
    if isinstance(value, dict):
        return {key: _to_loopback(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_loopback(item) for item in value]
    return value


@schemathesis.hook
def before_call(context, case, kwargs):
    """Point every URL of the request's body and query at loopback."""
    if case.body is not None and not isinstance(case.body, bytes):
        case.body = _to_loopback(case.body)
    if case.query:
        case.query = _to_loopback(case.query)
