"""Signed, expiring download links to finished export files: ``/api/exports/<token>``.

The same mechanism as media's public links (:mod:`herald.media.public_links`): an ``itsdangerous``
token signed with Herald's secret key, so it cannot be forged or pointed at another job. Media links
expire by itsdangerous's own clock; an export's token carries its expiry time instead, checked
against the runtime's clock (so ``herald cron`` deletes the file when the link runs out, and tests
move the clock). The token also names the workspace: the link works only with that workspace's
credentials, so a link that leaks into a log is no archive for anyone else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from itsdangerous import BadSignature, URLSafeSerializer

from ..clock import epoch_seconds

SALT = "herald/export-download/v1"
PREFIX = "/api/exports/"


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a valid token grants: the job's file, to the workspace, until ``expires_at`` (epoch seconds)."""

    job_id: str
    workspace_id: int
    expires_at: float


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def download_path(secret_key: str, job_id: str, workspace_id: int, expires_at: dt.datetime) -> str:
    """The signed path (``/api/exports/<token>``) of job ``job_id``'s file, valid until ``expires_at``."""
    token = _serializer(secret_key).dumps([job_id, workspace_id, int(epoch_seconds(expires_at))])
    return PREFIX + token


def resolve(secret_key: str, token: str, now: dt.datetime) -> Grant | None:
    """What ``token`` grants at ``now``; None when it is forged, malformed or expired."""
    try:
        value = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and isinstance(value[1], int) and isinstance(value[2], int)):
        return None
    grant = Grant(*value)
    if epoch_seconds(now) >= grant.expires_at:
        return None
    return grant
