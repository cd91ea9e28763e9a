"""Herald's HTTP API called in this process, with no network hop (``herald.sdk.web.LocalApi``).

For a plugin that acts for a caller holding an API key (the MCP server's tools): each call is a whole
request through the application, so authentication, scopes, rate limits, schema validation, workspace
isolation, the error envelope and the events are exactly the API's, and the plugin needs no second
implementation of anything the API does.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app
from werkzeug.test import Client

from ..runtime import Runtime
from .app import create_app


@dataclasses.dataclass(frozen=True)
class ApiAnswer:
    """What the API answered: the status, the headers and the body (parsed JSON; None when empty or not JSON)."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def error(self) -> dict | None:
        """The envelope's ``{"code", "message", "field"?}`` of a refusal (a status of 400 or more), else None."""
        if self.status < 400:
            return None
        error = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(error, dict):
            return error
        return {"code": "internal_error", "message": f"Herald answered {self.status} without an error envelope."}


class LocalApi:
    """Calls the API of the Herald application ``app`` in this process.

    Use :meth:`current` inside a request (a plugin's view) and :meth:`for_runtime` outside one (a
    console command: it makes the application once). Do not call it inside a write transaction: each
    call is a request of its own, which ends by returning the thread's database connection.
    """

    def __init__(self, app: Flask):
        """Call ``app``'s API."""
        self.app = app

    @classmethod
    def current(cls) -> LocalApi:
        """The API of the application serving the current request."""
        return cls(current_app._get_current_object())

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> LocalApi:
        """The API of a new application around ``runtime`` (for a console command's runtime)."""
        return cls(create_app(runtime))

    def request(self, method: str, path: str, *, key: str, json_body: Any = None,
                query: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                remote_addr: str = "127.0.0.1") -> ApiAnswer:
        """``method path`` (``/v1/posts/post_3``) as the holder of the API key ``key`` would send it over
        HTTP, with ``json_body`` as its JSON body and ``query`` as its query string; ``remote_addr`` is
        the address the limits count it against (the caller's, when a request is passed on).

        The request runs in a context of its own, so a call made while serving another request shares
        nothing with it (Flask's ``g``, the rate limiter's marks).
        """
        sent = {"Authorization": f"Bearer {key}", **(headers or {})}
        client = Client(self.app, use_cookies=False)

        def send() -> ApiAnswer:
            response = client.open(path, method=method, query_string=dict(query or {}), headers=sent,
                                   json=json_body, environ_base={"REMOTE_ADDR": remote_addr})
            try:
                data = response.get_data()
                body = None
                if data and response.mimetype == "application/json":
                    body = json.loads(data)
                return ApiAnswer(response.status_code, body, dict(response.headers))
            finally:
                response.close()

        return contextvars.Context().run(send)
