"""Webhook endpoints: create, change, rotate the secret, and their JSON shape."""

from __future__ import annotations

import datetime as dt

from herald.sdk import NotFound, Runtime, ValidationError, http, ids, record_event, work
from herald.sdk.storage import Prepared, isoformat, write_transaction
from herald.sdk.storage import by_id as prepared_by_id

from . import signing
from .models import ENDPOINT_PREFIX, KIND_NAME, WebhookDelivery, WebhookEndpoint

ROTATION_GRACE = dt.timedelta(hours=24)  # the previous secret keeps signing this long after a rotation
MAX_ENDPOINTS = 20  # per workspace
DISABLED_EVENT = "webhook.disabled"  # declared by the plugin (register_event_types)


def secret_key(runtime: Runtime) -> str:
    """The key secrets are encrypted with (``HERALD_SECRET_KEY``)."""
    return runtime.config.resolved_secret_key()


def parse_id(value: str, prefix: str, what: str) -> int:
    """The number in an id such as ``wh_12``; 404 when ``value`` cannot be one."""
    number = ids.parse_id(value, prefix) if isinstance(value, str) and value.startswith(prefix) else None
    if number is not None:
        return number
    raise NotFound(f"No {what} {value!r} in this workspace.")


def get(workspace_id: int, endpoint_id: str) -> WebhookEndpoint:
    """The workspace's endpoint ``wh_…``; 404 for another workspace's or an unknown one."""
    number = parse_id(endpoint_id, ENDPOINT_PREFIX, "webhook")
    row = WebhookEndpoint.get_or_none((WebhookEndpoint.id == number) & (WebhookEndpoint.workspace == workspace_id))
    if row is None:
        raise NotFound(f"No webhook {endpoint_id!r} in this workspace.")
    return row


def check_url(runtime: Runtime, url: str) -> str:
    """``url`` when Herald may deliver to it; 400 naming ``url`` otherwise.

    A host that does not resolve yet is accepted (every delivery checks again); one that resolves
    to a refused address is not.
    """
    try:
        http.check_url(url, allow_private=runtime.config.webhook_allow_private)
    except http.Unresolvable:
        pass
    except http.BlockedURL as exc:
        raise ValidationError(f"url is not allowed: {exc.reason}.", field="url") from None
    return url


def signing_secrets(runtime: Runtime, endpoint: WebhookEndpoint, now: dt.datetime | None = None) -> list[str]:
    """The secrets that sign deliveries to ``endpoint`` now: the current one, then the previous one
    while its grace period lasts."""
    now = now or runtime.clock.now()
    key = secret_key(runtime)
    found = [signing.unseal(key, endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at and \
            endpoint.previous_secret_expires_at > now:
        found.append(signing.unseal(key, endpoint.previous_secret_encrypted))
    return found


def create(runtime: Runtime, workspace_id: int, payload: dict) -> tuple[WebhookEndpoint, str]:
    """A new endpoint from a ``webhook_create`` body; returns it and its secret (shown once)."""
    url = check_url(runtime, payload["url"])
    secret = signing.check_secret(payload["secret"]) if payload.get("secret") else signing.generate_secret()
    with write_transaction():
        if WebhookEndpoint.select().where(WebhookEndpoint.workspace == workspace_id).count() >= MAX_ENDPOINTS:
            raise ValidationError(f"A workspace can have at most {MAX_ENDPOINTS} webhooks; delete one first.",
                                  field="url")
        endpoint = WebhookEndpoint.create(workspace=workspace_id, url=url, events=list(payload["events"]),
                                          secret_encrypted=signing.seal(secret_key(runtime), secret))
    return endpoint, secret


def update(runtime: Runtime, endpoint: WebhookEndpoint, payload: dict) -> WebhookEndpoint:
    """Change url, events or active (``webhook_update``). Re-activating clears the disabled notice."""
    changes: dict = {WebhookEndpoint.updated_at: runtime.clock.now()}
    if "url" in payload:
        changes[WebhookEndpoint.url] = check_url(runtime, payload["url"])
    if "events" in payload:
        changes[WebhookEndpoint.events] = list(payload["events"])
    if "active" in payload:
        changes[WebhookEndpoint.active] = payload["active"]
        if payload["active"]:
            changes.update({WebhookEndpoint.disabled_reason: None, WebhookEndpoint.disabled_at: None,
                            WebhookEndpoint.failing_since: None})
    with write_transaction():
        WebhookEndpoint.update(changes).where(WebhookEndpoint.id == endpoint.id).execute()
    return WebhookEndpoint.get_by_id(endpoint.id)


def rotate(runtime: Runtime, endpoint: WebhookEndpoint) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing (alongside) for :data:`ROTATION_GRACE`."""
    secret = signing.generate_secret()
    now = runtime.clock.now()
    with write_transaction():
        WebhookEndpoint.update(previous_secret_encrypted=endpoint.secret_encrypted,
                               previous_secret_expires_at=now + ROTATION_GRACE,
                               secret_encrypted=signing.seal(secret_key(runtime), secret), updated_at=now,
                               ).where(WebhookEndpoint.id == endpoint.id).execute()
    return WebhookEndpoint.get_by_id(endpoint.id), secret


# Every successful delivery attempt runs it: prepared (herald.db.prepared_statements, herald_webhooks.deliveries).
_CLEAR_FAILING = Prepared(WebhookEndpoint, lambda param: WebhookEndpoint.update(failing_since=None).where(
    (WebhookEndpoint.id == param(WebhookEndpoint.id)) & WebhookEndpoint.failing_since.is_null(False)))


# Every delivery attempt reads its endpoint (see herald.db.prepared_statements).
by_id = prepared_by_id(WebhookEndpoint)


def mark_failing(endpoint_id: int, now: dt.datetime) -> None:
    """An attempt failed: the endpoint is failing since ``now``, unless it was already."""
    WebhookEndpoint.update(failing_since=now).where(
        (WebhookEndpoint.id == endpoint_id) & WebhookEndpoint.failing_since.is_null()).execute()


def clear_failing(endpoint_id: int) -> None:
    """The endpoint answered: it is no longer failing (a write only when it was)."""
    _CLEAR_FAILING.execute(id=endpoint_id)


def disable(runtime, endpoint_id: int, reason: str, now: dt.datetime) -> None:
    """Stop delivering to the endpoint with ``reason`` as its notice; its pending deliveries are cancelled.

    Call inside the writing transaction: it records a ``webhook.disabled`` event, so the workspace's
    other endpoints (and sinks) subscribed to it hear that this one stopped receiving.
    """
    WebhookEndpoint.update(active=False, disabled_reason=reason, disabled_at=now, updated_at=now,
                           ).where(WebhookEndpoint.id == endpoint_id).execute()
    # A delivery a worker holds right now is left to it: its outcome is recorded (and logged), and
    # its next job finds the endpoint disabled and cancels it.
    work.cancel(runtime, work.kind(runtime, KIND_NAME), WebhookDelivery.endpoint == endpoint_id, last_error=reason)
    endpoint = WebhookEndpoint.get_by_id(endpoint_id)
    record_event(endpoint.workspace_id, DISABLED_EVENT, {"webhook": serialize(endpoint, now)})


def serialize(endpoint: WebhookEndpoint, now: dt.datetime, secret: str | None = None) -> dict:
    """The JSON shape of an endpoint at ``now`` (the runtime's clock; ``secret`` only when it was just
    created or rotated)."""
    rotating = endpoint.previous_secret_expires_at if (
        endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now) else None
    data = {
        "id": f"{ENDPOINT_PREFIX}{endpoint.id}",
        "url": endpoint.url,
        "events": list(endpoint.events or []),
        "active": endpoint.active,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": isoformat(endpoint.disabled_at),
        "failing_since": isoformat(endpoint.failing_since),
        "previous_secret_expires_at": isoformat(rotating),
        "created_at": isoformat(endpoint.created_at),
        "updated_at": isoformat(endpoint.updated_at),
    }
    if secret is not None:
        data["secret"] = secret
    return data
