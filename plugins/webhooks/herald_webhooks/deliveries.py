"""Deliveries: fan an event out to subscribed endpoints, judge each attempt, log it.

The rules (Standard Webhooks / Svix): only 2xx counts; redirects are failures; the retry schedule
is :data:`SCHEDULE` with jitter (:data:`RETRY`, applied by :mod:`herald.work`); ``Retry-After``
postpones the next attempt; 410 disables the endpoint; an endpoint failing for
:data:`DISABLE_AFTER` in a row is disabled with a notice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets

import peewee as pw

from herald.sdk import Conflict, NotFound, Outcome, RetryPolicy, Runtime, work
from herald.sdk.storage import Prepared, PreparedInsert, db, isoformat, write_transaction

from . import endpoints
from .models import (
    ATTEMPT_PREFIX,
    DELIVERY_PREFIX,
    ENDPOINT_PREFIX,
    KIND_NAME,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

# Seconds before each attempt, counted from the previous failure: immediately, 5 s, 5 min, 30 min,
# 2 h, 5 h, 10 h, 10 h (Svix). After the last one fails the delivery is failed.
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.1  # +-10 %
# A Retry-After longer than the schedule's wait postpones the attempt; a shorter one does not
# bring it forward (receivers are promised the schedule).
RETRY = RetryPolicy(schedule=SCHEDULE, jitter=JITTER, floor=0.0, retry_after_at_least=True)

# Runs for every event, on the request path: prepared (see herald.db.prepared_statements); rendered each time it
# cost the action endpoint about 0.2 ms a request.
_ACTIVE_ENDPOINTS = Prepared(WebhookEndpoint, lambda param: WebhookEndpoint.select().where(
    (WebhookEndpoint.workspace == param(WebhookEndpoint.workspace)) & WebhookEndpoint.active)
    .order_by(WebhookEndpoint.id))
# Every event a workspace's endpoints subscribe to runs these once per event and once per endpoint, on
# the request path (see herald.db.prepared_statements): rendered each time, they cost the fan-out
# benchmark's producer 0.98 ms of CPU per event (3 endpoints) against 0.43 ms prepared (2026-12-06).
_EVENT_DELIVERIES = Prepared(WebhookDelivery, lambda param: WebhookDelivery.select(WebhookDelivery.endpoint)
                             .where(WebhookDelivery.event == param(WebhookDelivery.event)))
_insert_delivery = PreparedInsert(WebhookDelivery)
# Every delivery attempt logs one (see herald.db.prepared_statements): rendering a statement costs about 0.2 ms
# on this VM, ten times running it; the fan-out bench fell from 0.52-0.73 of raw RQ to 0.42 without.
_insert_attempt = PreparedInsert(WebhookAttempt)
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


def fan_out(event, now: dt.datetime) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
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
        done = {row.endpoint_id for row in _EVENT_DELIVERIES.rows(event=event.id)}
        for endpoint in subscribed:
            if endpoint.id in done:
                continue
            try:
                with db.atomic():  # a savepoint: a racing duplicate is skipped
                    created.append(_insert_delivery(
                        workspace=event.workspace_id, endpoint=endpoint.id, event=event.id, event_type=event.type,
                        message_id=f"msg_{event.id}", payload=body, due_at=now,
                        created_at=now, updated_at=now))
            except pw.IntegrityError:
                continue
    by_id = {endpoint.id: endpoint for endpoint in subscribed}
    return [(delivery, by_id[delivery.endpoint_id]) for delivery in created]


def postpone(delivery: WebhookDelivery, due_at: dt.datetime) -> None:
    """Make a delivery not yet attempted due at ``due_at`` (``delivery`` updated with it)."""
    with write_transaction():
        WebhookDelivery.update(due_at=due_at).where(
            (WebhookDelivery.id == delivery.id) & (WebhookDelivery.step == delivery.step)
            & WebhookDelivery.lease_until.is_null()).execute()
    delivery.due_at = due_at


def test_delivery(endpoint: WebhookEndpoint, now: dt.datetime) -> WebhookDelivery:
    """A ``webhook.test`` delivery to ``endpoint`` (whatever events it subscribes to)."""
    body = json.dumps({"type": TEST_EVENT, "timestamp": isoformat(now), "data": {
        "webhook_id": f"{ENDPOINT_PREFIX}{endpoint.id}",
        "message": "A test event from Herald: your endpoint receives and verifies webhooks."}},
        separators=(",", ":"))
    with write_transaction():
        return WebhookDelivery.create(workspace=endpoint.workspace_id, endpoint=endpoint.id, event=None,
                                      event_type=TEST_EVENT, message_id=f"msg_test_{secrets.token_hex(8)}",
                                      payload=body, due_at=now, trigger="manual", one_shot=True,
                                      created_at=now, updated_at=now)


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


def request_redelivery(runtime: Runtime, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send ``delivery`` again now (the same webhook-id and body). A finished delivery gets one more
    attempt; a pending one has its next attempt brought forward (one being made right now, under a
    worker's lease, is that attempt: the row is left to it). 409 when the endpoint is disabled."""
    endpoint = WebhookEndpoint.get_by_id(delivery.endpoint_id)
    if not endpoint.active:
        raise Conflict("This webhook is disabled; re-enable it (PATCH active: true) before re-sending.")
    with write_transaction():
        work.move(runtime, work.kind(runtime, KIND_NAME), delivery, status=PENDING, trigger="manual",
                  one_shot=delivery.status != PENDING, due_at=runtime.clock.now())
    return WebhookDelivery.get_by_id(delivery.id)


@dataclasses.dataclass(frozen=True)
class Attempted:
    """What :func:`judge` hands to :func:`settle` (the outcome's ``detail``): the attempt to log."""

    result: AttemptResult
    trigger: str  # what the attempt was: scheduled | manual
    failing_since: dt.datetime | None  # the endpoint's, before this attempt
    notice: str | None  # the endpoint is disabled with this notice


def judge(runtime: Runtime, delivery: WebhookDelivery, endpoint: WebhookEndpoint, result: AttemptResult) -> Outcome:
    """What follows an attempt: done on a 2xx; failed on a 410, for a one-shot re-send, or when the
    endpoint has been failing for :data:`DISABLE_AFTER` (both disable it); else a retry on the
    schedule (:data:`RETRY`: the kernel gives up after the last one), honouring ``Retry-After``."""
    now = runtime.clock.now()
    notice = None
    if result.success:
        outcome = Outcome.done(last_status_code=result.status, last_error=None, trigger="scheduled")
    else:
        error = describe(result)
        failing_since = endpoint.failing_since or now
        if result.status == 410:
            notice = (f"Disabled on {isoformat(now)}: the endpoint answered 410 Gone, which asks senders to stop. "
                      "Re-enable it to resume deliveries.")
        elif now - failing_since >= DISABLE_AFTER:
            notice = (f"Disabled on {isoformat(now)}: every delivery failed since {isoformat(failing_since)} "
                      f"({DISABLE_AFTER.days} days). Last error: {error}. "
                      "Fix the endpoint, then re-enable it and re-send what failed.")
        changes = {"last_status_code": result.status, "last_error": error, "trigger": "scheduled"}
        if notice or delivery.one_shot:
            outcome = Outcome.failed(error, **changes)
        else:
            outcome = Outcome.retry(error, result.retry_after, **changes)
    return dataclasses.replace(outcome, detail=Attempted(result, delivery.trigger, endpoint.failing_since, notice))


def settle(runtime: Runtime, delivery: WebhookDelivery, outcome: Outcome, locked: None) -> None:
    """Inside the transaction that records an attempt's outcome: log the attempt (with the next
    one's time, when one is due) and keep the endpoint's failing mark, disabling it with a notice
    when :func:`judge` said so (a ``webhook.disabled`` event, dispatched after the commit).

    The common (successful) case reads nothing: it writes the attempt and clears the endpoint's
    failing mark only when it has one."""
    attempted = outcome.detail
    if not isinstance(attempted, Attempted):  # deferred or cancelled: no attempt was made
        return
    now = runtime.clock.now()
    result = attempted.result
    if result.success:
        endpoints.clear_failing(delivery.endpoint_id)
    elif attempted.failing_since is None:
        endpoints.mark_failing(delivery.endpoint_id, now)
    _insert_attempt(workspace=delivery.workspace_id, endpoint=delivery.endpoint_id, delivery=delivery.id,
                    number=delivery.attempts, trigger=attempted.trigger, attempted_at=now,
                    status_code=result.status, success=result.success, duration_ms=result.duration_ms,
                    error=result.error, response=result.response[:RESPONSE_EXCERPT],
                    next_attempt_at=delivery.due_at if delivery.status == PENDING else None)
    if attempted.notice:
        endpoints.disable(runtime, delivery.endpoint_id, attempted.notice, now)


def describe(result: AttemptResult) -> str:
    """A short account of a failed attempt (``HTTP 500``, ``timed out``...)."""
    if result.error:
        return result.error
    return f"HTTP {result.status}"


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
        "next_attempt_at": isoformat(delivery.due_at),
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
