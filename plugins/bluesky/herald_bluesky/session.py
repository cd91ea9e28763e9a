"""Signing in with an app password and keeping the session, in memory only.

``createSession`` answers an access token (2 hours) and a refresh token (90 days) that rotates:
``refreshSession`` answers a new pair and revokes the old refresh token after a 2-hour grace
(docs/platforms/bluesky.md). A publish job has nowhere to store a rotated token, so Herald stores
the app password (encrypted, as the account's token) and keeps sessions in this process only: one
sign-in per account and process, the access token until the PDS says ``ExpiredToken``, then a
refresh, and a new sign-in when the refresh is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from typing import Any

from .xrpc import XrpcError, call


@dataclasses.dataclass
class Session:
    """One signed-in session on ``pds``."""

    pds: str
    did: str
    handle: str
    access: str
    refresh: str


_SESSIONS: dict[tuple[str, str, str], Session] = {}
_LOCK = threading.Lock()


def _key(pds: str, identifier: str, password: str) -> tuple[str, str, str]:
    return pds, identifier, hashlib.sha256(password.encode()).hexdigest()


def sign_in(config: Any, pds: str, identifier: str, password: str) -> Session:
    """A new session (``com.atproto.server.createSession``), kept for later calls of this process.
    Raises :class:`XrpcError` (401 ``AuthenticationRequired``: wrong handle or app password)."""
    data = call(config, pds, "POST", "com.atproto.server.createSession",
                body={"identifier": identifier, "password": password})
    session = Session(pds=pds, did=data["did"], handle=data.get("handle") or identifier,
                      access=data["accessJwt"], refresh=data["refreshJwt"])
    with _LOCK:  # found again by the handle it signed in with and by the DID (what accounts keep)
        _SESSIONS[_key(pds, identifier, password)] = _SESSIONS[_key(pds, session.did, password)] = session
    return session


def _refreshed(config: Any, session: Session, identifier: str, password: str) -> Session:
    """The session with new tokens (``refreshSession``), or a new sign-in when the refresh is refused."""
    try:
        data = call(config, session.pds, "POST", "com.atproto.server.refreshSession", token=session.refresh)
    except XrpcError as err:
        if err.passing:
            raise
        return sign_in(config, session.pds, identifier, password)  # revoked or expired refresh token
    session.access, session.refresh = data["accessJwt"], data["refreshJwt"]
    return session


class Account:
    """Calls on one connected account's PDS, signed in with its app password."""

    def __init__(self, config: Any, pds: str, identifier: str, password: str):
        self.config, self.pds, self.identifier, self.password = config, pds, identifier, password

    def session(self) -> Session:
        """This process's session for the account (signing in the first time)."""
        with _LOCK:
            found = _SESSIONS.get(_key(self.pds, self.identifier, self.password))
        return found or sign_in(self.config, self.pds, self.identifier, self.password)

    def call(self, method: str, nsid: str, **options: Any) -> dict:
        """``nsid`` on the account's PDS with its access token: refreshed once if it ran out, and signed in
        again if the PDS no longer knows the session (the user ended it; the app password may still work)."""
        session = self.session()
        try:
            return call(self.config, self.pds, method, nsid, token=session.access, **options)
        except XrpcError as err:
            if err.expired_token:
                session = _refreshed(self.config, session, self.identifier, self.password)
            elif err.status == 400 and err.error == "InvalidToken":
                session = sign_in(self.config, self.pds, self.identifier, self.password)
            else:
                raise
        return call(self.config, self.pds, method, nsid, token=session.access, **options)

    def read(self, nsid: str, **params: str) -> dict:
        """A query that needs no sign-in (``getRecord``, ``resolveHandle``) on the account's PDS."""
        return call(self.config, self.pds, "GET", nsid, params=params)
