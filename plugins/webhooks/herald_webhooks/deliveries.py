"""Deliveries: fan an event out to subscribed endpoints, schedule retries, record each attempt.

The rules (Standard Webhooks / Svix): only 2xx counts; redirects are failures; the retry schedule
is :data:`SCHEDULE` with jitter; ``Retry-After`` postpones the next attempt; 410 disables the
endpoint; an endpoint failing for :data:`DISABLE_AFTER` in a row is disabled with a notice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import json
import random
import secrets

import peewee as pw

from herald import events
from herald.errors import Conflict, NotFound
from herald.models import db, isoformat, utcnow, write_transaction
from herald.prepared_statements import Prepared, PreparedInsert
from herald.runtime import Runtime

from . import endpoints
from .models import (
    ATTEMPT_PREFIX,
    CANCELLED,
    DELIVERY_PREFIX,
    ENDPOINT_PREFIX,
    FAILED,
    PENDING,
    SUCCEEDED,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

# Seconds before each attempt, counted from the previous failure: immediately, 5 s, 5 min, 30 min,
# 2 h, 5 h, 10 h, 10 h (Svix). After the last one fails the delivery is failed.
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.1  # +-10 %

# Runs for every event, on the request path: prepared (see herald.prepared_statements); rendered each time it
# cost the action endpoint about 0.2 ms a request.
_ACTIVE_ENDPOINTS = Prepared(WebhookEndpoint, lambda param: WebhookEndpoint.select().where(
    (WebhookEndpoint.workspace == param(WebhookEndpoint.workspace)) & WebhookEndpoint.active)
    .order_by(WebhookEndpoint.id))
# Every delivery attempt runs these (see herald.prepared_statements): rendering a statement costs about 0.2 ms
# on this VM, ten times running it; the fan-out bench fell from 0.52-0.73 of raw RQ to 0.42 without.
_LOAD = Prepared(WebhookDelivery, lambda param: WebhookDelivery.select(WebhookDelivery, WebhookEndpoint)
                 .join(WebhookEndpoint).where(WebhookDelivery.id == param(WebhookDelivery.id)))
_insert_attempt = PreparedInsert(WebhookAttempt)
_AFTER_ATTEMPT = Prepared(WebhookDelivery, lambda param: WebhookDelivery.update(
    attempts=WebhookDelivery.attempts + 1, trigger="scheduled", status=param(WebhookDelivery.status),
    step=WebhookDelivery.step + param(WebhookDelivery.step, "new_steps"),
    next_attempt_at=param(WebhookDelivery.next_attempt_at), last_status_code=param(WebhookDelivery.last_status_code),
    last_error=param(WebhookDelivery.last_error), updated_at=param(WebhookDelivery.updated_at))
    .where((WebhookDelivery.id == param(WebhookDelivery.id)) & (WebhookDelivery.step == param(WebhookDelivery.step)))
    .returning(WebhookDelivery.step))
MAX_RETRY_AFTER = 24 * 3600
DISABLE_AFTER = dt.timedelta(days=5)
RESPONSE_EXCERPT = 1024
TEST_EVENT = "webhook.test"


@dataclasses.dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt produced (``status`` is None when no response arrived)."""

    status: int | None
    duration_ms: int
    response: str = ""
    error: str | None = None
    retry_after: float | None = None

    @property
    def success(self) -> bool:
        """Only a 2xx answer is a success."""
        return self.status is not None and 200 <= self.status < 300


def body_for(event) -> str:
    """The exact JSON body signed and sent for ``event``: ``{"type", "timestamp", "data"}``."""
    return json.dumps({"type": event.type, "timestamp": isoformat(event.created_at), "data": event.data},
                      separators=(",", ":"))


def fan_out(event) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
    """Create a delivery for each active endpoint of the workspace subscribed to ``event.type``.

    Idempotent: an endpoint that already has a delivery of this event gets no second one. Returns
    the deliveries created, each with its endpoint (:func:`herald_webhooks.jobs.fan_out` schedules
    and enqueues them).
    """
    subscribed = [row for row in _ACTIVE_ENDPOINTS.rows(workspace=event.workspace_id)
                  if event.type in (row.events or [])]
    if not subscribed:
        return []
    body = body_for(event)
    created = []
    with write_transaction():
        done = {row.endpoint_id for row in WebhookDelivery.select(WebhookDelivery.endpoint)
                .where(WebhookDelivery.event == event.id)}
        for endpoint in subscribed:
            if endpoint.id in done:
                continue
            try:
                with db.atomic():  # a savepoint: a racing duplicate is skipped
                    created.append(WebhookDelivery.create(
                        workspace=event.workspace_id, endpoint=endpoint.id, event=event.id, event_type=event.type,
                        message_id=f"msg_{event.id}", payload=body, next_attempt_at=utcnow()))
            except pw.IntegrityError:
                continue
    by_id = {endpoint.id: endpoint for endpoint in subscribed}
    return [(delivery, by_id[delivery.endpoint_id]) for delivery in created]


def test_delivery(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A ``webhook.test`` delivery to ``endpoint`` (whatever events it subscribes to)."""
    now = utcnow()
    body = json.dumps({"type": TEST_EVENT, "timestamp": isoformat(now), "data": {
        "webhook_id": f"{ENDPOINT_PREFIX}{endpoint.id}",
        "message": "A test event from Herald: your endpoint receives and verifies webhooks."}},
        separators=(",", ":"))
    with write_transaction():
        return WebhookDelivery.create(workspace=endpoint.workspace_id, endpoint=endpoint.id, event=None,
                                      event_type=TEST_EVENT, message_id=f"msg_test_{secrets.token_hex(8)}",
                                      payload=body, next_attempt_at=now, trigger="manual", one_shot=True)


def get(workspace_id: int, delivery_id: str) -> WebhookDelivery:
    """The workspace's delivery named by its own id (``dlv_…``) or by any of its attempts' (``att_…``,
    the ``id`` of a line of the delivery log); 404 for another workspace's or an unknown one."""
    if isinstance(delivery_id, str) and delivery_id.startswith(ATTEMPT_PREFIX):
        number = endpoints.parse_id(delivery_id, ATTEMPT_PREFIX, "delivery")
        row = (WebhookDelivery.select().join(WebhookAttempt, on=WebhookAttempt.delivery == WebhookDelivery.id)
               .where((WebhookAttempt.id == number) & (WebhookAttempt.workspace == workspace_id)
                      & (WebhookDelivery.workspace == workspace_id)).first())
    else:
        number = endpoints.parse_id(delivery_id, DELIVERY_PREFIX, "delivery")
        row = WebhookDelivery.get_or_none((WebhookDelivery.id == number) & (WebhookDelivery.workspace == workspace_id))
    if row is None:
        raise NotFound(f"No delivery {delivery_id!r} in this workspace.")
    return row


def request_redelivery(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send ``delivery`` again now (the same webhook-id and body). A finished delivery gets one more
    attempt; a pending one has its next attempt brought forward. 409 when the endpoint is disabled."""
    endpoint = WebhookEndpoint.get_by_id(delivery.endpoint_id)
    if not endpoint.active:
        raise Conflict("This webhook is disabled; re-enable it (PATCH active: true) before re-sending.")
    now = utcnow()
    with write_transaction():
        WebhookDelivery.update(
            status=PENDING, trigger="manual", one_shot=delivery.status != PENDING, next_attempt_at=now,
            step=WebhookDelivery.step + 1, updated_at=now).where(WebhookDelivery.id == delivery.id).execute()
    return WebhookDelivery.get_by_id(delivery.id)


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit alone also takes "²", which float() refuses
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or utcnow()).replace(tzinfo=dt.UTC)).total_seconds()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def retry_delay(failures: int, retry_after: float | None = None, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after ``failures`` failed attempts; None when none is left."""
    if failures >= len(SCHEDULE):
        return None
    base = SCHEDULE[failures]
    delay = base * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return max(delay, retry_after or 0.0)


def load(delivery_id: int) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    """The delivery and its endpoint in one query; None when the delivery is gone."""
    rows = _LOAD.joined_rows(WebhookDelivery, WebhookEndpoint, id=delivery_id)
    return rows[0] if rows else None


def bump_step(delivery_id: int) -> int | None:
    """Give the delivery a new step (so its next job gets a new id) and return it; None when it is gone.

    Runs in its own transaction unless the caller has one open.
    """
    with write_transaction():
        rows = list(WebhookDelivery.update(step=WebhookDelivery.step + 1).where(WebhookDelivery.id == delivery_id)
                    .returning(WebhookDelivery.step).tuples().execute())
    return rows[0][0] if rows else None


def _after_attempt(delivery_id: int, step: int, *, status: str, **values) -> int | None:
    """Count an attempt of ``step`` and set what follows it (``values``: the delivery's fields), when
    ``step`` is still the delivery's; returns the delivery's step afterwards, or None (someone asked
    for a re-send meanwhile). A pending delivery gets a new step: the running job still holds the
    current step's job id."""
    rows = _AFTER_ATTEMPT.rows(id=delivery_id, step=step, status=status, new_steps=1 if status == PENDING else 0,
                               **values)
    return rows[0].step if rows else None


@dataclasses.dataclass(frozen=True)
class Recorded:
    """What :func:`record_attempt` decided: the delivery's status, and its step and time of the next attempt
    (``step`` is None when the attempt was superseded by a re-send)."""

    status: str
    step: int | None
    next_attempt_at: dt.datetime | None


def record_attempt(runtime: Runtime, delivery: WebhookDelivery, step: int, result: AttemptResult,
                   now: dt.datetime | None = None) -> Recorded:
    """Store the attempt and decide what follows: the delivery's status, and the step and time of
    the next attempt when one is due.

    One write transaction; the common (successful) case reads nothing: it writes the attempt, updates
    the delivery (``UPDATE … RETURNING`` its step) and clears the endpoint's failing mark when it has one.
    """
    now = now or runtime.clock.now()
    number = delivery.attempts + 1
    with events.collecting() as recorded, write_transaction():
        next_at = None
        status = SUCCEEDED if result.success else FAILED
        notice = None
        if result.success:  # (the common case: no read of the endpoint, and a write only when it was failing)
            endpoints.clear_failing(delivery.endpoint_id)
        elif result.status == 410:
            notice = (f"Disabled on {isoformat(now)}: the endpoint answered 410 Gone, which asks senders to stop. "
                      "Re-enable it to resume deliveries.")
        else:
            endpoint = WebhookEndpoint.get_by_id(delivery.endpoint_id)
            failing_since = endpoint.failing_since or now
            if endpoint.failing_since is None:
                WebhookEndpoint.update(failing_since=now).where(WebhookEndpoint.id == endpoint.id).execute()
            if now - failing_since >= DISABLE_AFTER:
                notice = (f"Disabled on {isoformat(now)}: every delivery failed since {isoformat(failing_since)} "
                          f"({DISABLE_AFTER.days} days). Last error: {describe(result)}. "
                          "Fix the endpoint, then re-enable it and re-send what failed.")
            elif not delivery.one_shot:
                delay = retry_delay(number, result.retry_after)
                if delay is not None:
                    status, next_at = PENDING, now + dt.timedelta(seconds=delay)
        _insert_attempt(workspace=delivery.workspace_id, endpoint=delivery.endpoint_id, delivery=delivery.id,
                        number=number, trigger=delivery.trigger, attempted_at=now, status_code=result.status,
                        success=result.success, duration_ms=result.duration_ms, error=result.error,
                        response=result.response[:RESPONSE_EXCERPT], next_attempt_at=next_at)
        new_step = _after_attempt(delivery.id, step, status=status, next_attempt_at=next_at,
                                  last_status_code=result.status,
                                  last_error=None if result.success else describe(result), updated_at=now)
        if new_step is None:  # a superseded step: count the attempt; the newer job decides the schedule
            WebhookDelivery.update(attempts=WebhookDelivery.attempts + 1).where(
                WebhookDelivery.id == delivery.id).execute()
        if notice:
            endpoints.disable(delivery.endpoint_id, notice, now)
            status = FAILED
    if recorded:  # webhook.disabled, now committed
        events.dispatch(runtime.pm, recorded)
    if new_step is None:
        return Recorded("superseded", None, None)
    return Recorded(status, new_step, next_at)


def describe(result: AttemptResult) -> str:
    """A short account of a failed attempt (``HTTP 500``, ``timed out``...)."""
    if result.error:
        return result.error
    return f"HTTP {result.status}"


def cancel(delivery: WebhookDelivery, reason: str) -> None:
    """Stop a pending delivery (its endpoint was disabled)."""
    WebhookDelivery.update(status=CANCELLED, next_attempt_at=None, last_error=reason, updated_at=utcnow()).where(
        (WebhookDelivery.id == delivery.id) & (WebhookDelivery.status == PENDING)).execute()


def serialize_delivery(delivery: WebhookDelivery) -> dict:
    """The JSON shape of a delivery (one event to one endpoint)."""
    return {
        "id": f"{DELIVERY_PREFIX}{delivery.id}",
        "webhook_id": f"{ENDPOINT_PREFIX}{delivery.endpoint_id}",
        "event": delivery.event_type,
        "event_id": f"evt_{delivery.event_id}" if delivery.event_id else None,
        "message_id": delivery.message_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": isoformat(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": isoformat(delivery.created_at),
    }


def serialize_attempt(attempt: WebhookAttempt, delivery: WebhookDelivery) -> dict:
    """One line of the delivery log: time, event, HTTP status, duration, response start, next attempt."""
    return {
        "id": f"{ATTEMPT_PREFIX}{attempt.id}",
        "delivery_id": f"{DELIVERY_PREFIX}{delivery.id}",
        "webhook_id": f"{ENDPOINT_PREFIX}{attempt.endpoint_id}",
        "event": delivery.event_type,
        "event_id": f"evt_{delivery.event_id}" if delivery.event_id else None,
        "message_id": delivery.message_id,
        "attempt": attempt.number,
        "trigger": attempt.trigger,
        "attempted_at": isoformat(attempt.attempted_at),
        "status_code": attempt.status_code,
        "success": attempt.success,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
        "response": attempt.response,
        "next_attempt_at": isoformat(attempt.next_attempt_at),
        "delivery_status": delivery.status,
    }
