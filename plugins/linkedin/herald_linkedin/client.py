"""A small client for LinkedIn's versioned REST APIs over Herald's one HTTP client.

Every call goes to ``{HERALD_LINKEDIN_API_URL}/rest/<path>`` with the member's bearer token, the
``LinkedIn-Version`` of ``HERALD_LINKEDIN_VERSION`` and ``X-Restli-Protocol-Version: 2.0.0``. Query
values are Rest.li 2.0 encoded: URNs URL-encoded, a list as ``List(a,b)``. Failures raise
:class:`~herald_linkedin.errors.LinkedInError`.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from herald.sdk import http
from herald_linkedin import settings
from herald_linkedin.errors import NETWORK, LinkedInError, error_from_answer, network_error

RESTLI = "2.0.0"
USER_AGENT = "herald-linkedin/0.1"


def quote(value: str) -> str:
    """A URN or value as it goes in a Rest.li 2.0 path or query (every reserved character encoded)."""
    return urllib.parse.quote(str(value), safe="")


def query(params: Mapping[str, Any]) -> str:
    """``params`` as a Rest.li 2.0 query string: a list or tuple value becomes ``List(a,b)``."""
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            encoded = f"List({','.join(quote(item) for item in value)})"
        else:
            encoded = quote(value)
        parts.append(f"{quote(name)}={encoded}")
    return "&".join(parts)


@dataclasses.dataclass
class Answer:
    """A successful answer: its status, headers (lower-case names) and parsed JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str]
    data: Any


class LinkedInClient:
    """Calls LinkedIn with one member token: ``LinkedInClient(config, token).get("organizationAcls", q=...)``."""

    def __init__(self, config: Any, token: str):
        self.root = settings.API_URL.value(config).rstrip("/") + "/rest"
        self.host = urllib.parse.urlsplit(self.root).netloc
        self.version = settings.VERSION.value(config)
        self.timeout = settings.TIMEOUT.value(config)
        self.token = token

    def get(self, path: str, **params: Any) -> Answer:
        """GET ``/rest/<path>`` with ``params``."""
        return self.call("GET", path, params)

    def post(self, path: str, body: Any, **params: Any) -> Answer:
        """POST ``body`` as JSON to ``/rest/<path>``."""
        return self.call("POST", path, params, body)

    def call(self, method: str, path: str, params: Mapping[str, Any], body: Any = None) -> Answer:
        """One call; raises :class:`LinkedInError` for an error answer or none."""
        url = f"{self.root}/{path.lstrip('/')}"
        if params:
            url += "?" + query(params)
        headers = {"Authorization": f"Bearer {self.token}", "LinkedIn-Version": self.version,
                   "X-Restli-Protocol-Version": RESTLI, "Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return self.send(method, url, data, headers)

    def upload(self, url: str, data: bytes, content_type: str) -> Answer:
        """PUT ``data`` to an upload URL LinkedIn gave (the Images API's ``uploadUrl``)."""
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": content_type, "User-Agent": USER_AGENT}
        return self.send("PUT", url, data, headers)

    def send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Answer:
        """Send and read one request; an error answer or none raises :class:`LinkedInError`."""
        host = urllib.parse.urlsplit(url).netloc
        try:
            answer = http.request(method, url, body=data, headers=headers, timeout=self.timeout)
        except http.SendFailed as exc:
            raise network_error(host, exc.reason, uncertain=False) from None
        except http.AnswerLost as exc:
            raise network_error(host, exc.reason, uncertain=method != "GET") from None
        if answer.status >= 400:
            raise error_from_answer(answer.status, answer.body, answer.headers)
        try:
            parsed = json.loads(answer.body) if answer.body and answer.body.strip() else None
        except ValueError:
            raise LinkedInError(f"{host} answered with something that is not JSON", kind=NETWORK,
                                status=answer.status, uncertain=method != "GET") from None
        return Answer(answer.status, answer.headers, parsed)
