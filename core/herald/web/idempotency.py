"""``Idempotency-Key`` on mutating requests: the first outcome is stored and replayed.

- The first request with a key runs; its status and body are stored for 24 hours (in the
  database, so they survive a Redis restart) and replayed, with ``Idempotent-Replayed: true``,
  for a retry with the same key, method, path and body.
- The same key with a different body (or on another endpoint) is 409 ``idempotency_conflict``.
- A retry while the first request is still running is 409 ``conflict`` with ``Retry-After``.
- Keys are scoped to the workspace and are at most 255 characters.
- Only a request that passed validation and acted is stored (as Stripe does). Refusals store
  nothing: bad credentials, an invalid body, rate limits, and every error a handler raises (a
  404 for an account not connected yet, a rule of the endpoint), so the corrected request with the
  same key goes through. Server errors (5xx) are not stored either, so a retry really retries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import peewee as pw
from flask import Response, request

from ..db.models import IdempotencyRecord, write_transaction
from ..errors import Conflict, HeraldError, ValidationError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
PATH_LENGTH = 500  # the column's size: the path is kept to read, the request hash is what matches
KEEP_FOR = dt.timedelta(hours=24)
# A record still "in progress" after this long belongs to a request whose process died; the key
# may then be used again.
STALE_AFTER = dt.timedelta(minutes=5)
RETRY_RUNNING_AFTER = "1"  # seconds: Retry-After on the 409 for a key whose request is still running


def presented_key() -> str | None:
    """The request's Idempotency-Key (quotes of the structured-field form removed); 400 when malformed."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key:
        raise ValidationError("Idempotency-Key must not be empty.", field=HEADER)
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.", field=HEADER)
    if not key.isprintable() or not key.isascii():
        raise ValidationError("Idempotency-Key must be printable ASCII (a UUID is a good choice).", field=HEADER)
    return key


def fingerprint() -> str:
    """A hash of what makes two requests the same: method, path, query and body (JSON key order ignored)."""
    body = request.get_data(cache=True)
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):  # the handler answers such a body with a 400
        canonical = body
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.full_path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def begin(workspace_id: int, key: str, now: dt.datetime) -> Response | None:
    """Reserve ``key`` for this request at ``now`` (the runtime's clock); returns the stored response
    to replay, or None to go ahead."""
    request_hash = fingerprint()
    for _ in range(2):
        try:
            with write_transaction():
                IdempotencyRecord.create(workspace=workspace_id, key=key, method=request.method,
                                         path=request.path[:PATH_LENGTH], request_hash=request_hash, created_at=now,
                                         expires_at=now + KEEP_FOR)
            return None
        except pw.IntegrityError:
            pass
        existing = IdempotencyRecord.get_or_none((IdempotencyRecord.workspace == workspace_id)
                                                 & (IdempotencyRecord.key == key))
        if existing is None:
            continue  # deleted in between (expired or released): try to reserve again
        expired = existing.expires_at <= now
        stale = existing.status_code is None and existing.created_at <= now - STALE_AFTER
        if expired or stale:
            IdempotencyRecord.delete().where(IdempotencyRecord.id == existing.id).execute()
            continue
        if existing.request_hash != request_hash:
            raise HeraldError("This Idempotency-Key was already used with a different request body.",
                              code="idempotency_conflict", field=HEADER)
        if existing.status_code is None:
            raise _still_running()
        response = Response(existing.response_body, status=existing.status_code, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    raise _still_running()


def _still_running() -> Conflict:
    return Conflict(f"A request with this Idempotency-Key is still being processed. Retry in {RETRY_RUNNING_AFTER} "
                    "second with the same key to get its response.", field=HEADER,
                    headers={"Retry-After": RETRY_RUNNING_AFTER})


def finish(workspace_id: int, key: str, response: Response) -> None:
    """Store the response the handler gave for replays (or release the key after a server error)."""
    query = (IdempotencyRecord.workspace == workspace_id) & (IdempotencyRecord.key == key)
    with write_transaction():
        if response.status_code >= 500:
            IdempotencyRecord.delete().where(query & IdempotencyRecord.status_code.is_null()).execute()
        else:
            (IdempotencyRecord.update(status_code=response.status_code, response_body=response.get_data(as_text=True))
             .where(query & IdempotencyRecord.status_code.is_null()).execute())


def release(workspace_id: int, key: str) -> None:
    """Forget a reservation whose request was refused or failed, so the client can send it again."""
    with write_transaction():
        (IdempotencyRecord.delete()
         .where((IdempotencyRecord.workspace == workspace_id) & (IdempotencyRecord.key == key)
                & IdempotencyRecord.status_code.is_null()).execute())
