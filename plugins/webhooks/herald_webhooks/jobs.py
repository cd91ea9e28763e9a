"""RQ jobs of the webhooks plugin: one job per delivery attempt on the ``webhooks`` queue.

Job ids are ``herald-webhook-<delivery id>-<step>``; the delivery row is the source of truth, so
:func:`reconcile` re-creates any job Redis lost. A busy or failing endpoint holds at most
:func:`in_flight_limit` workers at a time; further deliveries to it wait a moment rather than
occupying workers that other endpoints need.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import logging
import random

import redis
from rq.exceptions import DuplicateJobError

from herald import netguard, queue
from herald.jobs import runtime
from herald.models import db, utcnow, write_transaction

from . import deliveries, endpoints, signing
from .models import PENDING, WebhookDelivery, WebhookEndpoint

log = logging.getLogger("herald.webhooks")

TIMEOUT_SECONDS = 15.0
USER_AGENT = "Herald-Webhooks/0.2 (+https://www.standardwebhooks.com/)"
HEALTHY_IN_FLIGHT = 4  # concurrent attempts to one endpoint that is answering
FAILING_IN_FLIGHT = 1  # ... and to one that is failing (a dead endpoint never takes more than one worker)
JOB_TIMEOUT = 60  # seconds RQ lets one attempt run (the HTTP timeout is far shorter)
SLOT_TTL = JOB_TIMEOUT


def job_id(delivery_id: int, step: int) -> str:
    """The unique RQ job id of a delivery's ``step``."""
    return f"herald-webhook-{delivery_id}-{step}"


def enqueue(connection: redis.Redis, delivery_id: int, step: int, at: dt.datetime | None = None) -> bool:
    """Enqueue :func:`deliver` for the delivery's ``step`` (at ``at``, naive UTC, when in the future).

    False when the job exists already or Redis is unreachable (the reconciler enqueues it later).
    """
    q = queue.get_queue(connection, queue.WEBHOOKS_QUEUE)
    options = dict(job_id=job_id(delivery_id, step), unique=True, job_timeout=JOB_TIMEOUT,
                   retry=queue.CRASH_RETRY, result_ttl=300, failure_ttl=7 * 86400,
                   description=f"webhook delivery {delivery_id} (step {step})")
    try:
        if at is not None and at > utcnow():
            q.enqueue_at(at.replace(tzinfo=dt.UTC), "herald_webhooks.jobs.deliver", delivery_id, step, **options)
        else:
            q.enqueue("herald_webhooks.jobs.deliver", delivery_id, step, **options)
    except DuplicateJobError:
        return False
    except redis.RedisError as exc:
        log.warning("could not enqueue webhook delivery %s (the reconciler will): %s", delivery_id, exc)
        return False
    return True


def _bump(delivery: WebhookDelivery) -> int:
    with write_transaction():
        WebhookDelivery.update(step=WebhookDelivery.step + 1).where(WebhookDelivery.id == delivery.id).execute()
    return WebhookDelivery.select(WebhookDelivery.step).where(WebhookDelivery.id == delivery.id).scalar()


def in_flight_limit(endpoint: WebhookEndpoint) -> int:
    """How many attempts to ``endpoint`` may run at once."""
    return FAILING_IN_FLIGHT if endpoint.failing_since else HEALTHY_IN_FLIGHT


def _slot_key(endpoint_id: int) -> str:
    return f"herald:webhooks:in-flight:{endpoint_id}"


def _take_slot(connection: redis.Redis, endpoint: WebhookEndpoint) -> bool:
    key = _slot_key(endpoint.id)
    try:
        taken, _ = connection.pipeline().incr(key).expire(key, SLOT_TTL).execute()
        if taken > in_flight_limit(endpoint):
            connection.decr(key)
            return False
    except redis.RedisError:
        pass  # without Redis there is no worker either; do not block on bookkeeping
    return True


def _release_slot(connection: redis.Redis, endpoint_id: int) -> None:
    with contextlib.suppress(redis.RedisError):
        connection.decr(_slot_key(endpoint_id))


def attempt(state, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> deliveries.AttemptResult:
    """Check the URL (SSRF guard), sign the stored body and POST it once."""
    try:
        target = netguard.check_url(endpoint.url, allow_private=state.config.webhook_allow_private)
    except netguard.BlockedURL as exc:
        return deliveries.AttemptResult(None, 0, error=f"refused by the SSRF guard: {exc.reason}")
    headers = signing.headers(endpoints.signing_secrets(state, endpoint), delivery.message_id, delivery.payload)
    headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
    started = dt.datetime.now(dt.UTC)
    try:
        response = netguard.post(target, delivery.payload.encode(), headers, timeout=TIMEOUT_SECONDS,
                                 read_limit=deliveries.RESPONSE_EXCERPT)
    except TimeoutError:
        return deliveries.AttemptResult(None, _ms_since(started), error=f"timed out after {TIMEOUT_SECONDS:g} s")
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
        return deliveries.AttemptResult(None, _ms_since(started), error=f"connection failed: {reason}")
    return deliveries.AttemptResult(response.status, response.duration_ms,
                                    response.body.decode("utf-8", "replace"),
                                    retry_after=deliveries.parse_retry_after(response.headers.get("retry-after")))


def _ms_since(started: dt.datetime) -> int:
    return int((dt.datetime.now(dt.UTC) - started).total_seconds() * 1000)


def deliver(delivery_id: int, step: int) -> str:
    """Make one attempt of delivery ``delivery_id`` (when ``step`` is still current); returns what happened."""
    state = runtime()
    with db.connection_context():
        delivery = WebhookDelivery.get_or_none(WebhookDelivery.id == delivery_id)
        if delivery is None or delivery.status != PENDING or delivery.step != step:
            return "nothing to do"
        endpoint = WebhookEndpoint.get_by_id(delivery.endpoint_id)
        if not endpoint.active:
            deliveries.cancel(delivery, endpoint.disabled_reason or "The webhook was disabled.")
            return "cancelled"
        if delivery.next_attempt_at and delivery.next_attempt_at > utcnow() + dt.timedelta(seconds=1):
            enqueue(state.redis, delivery.id, _bump(delivery), delivery.next_attempt_at)
            return "not due yet"
        if not _take_slot(state.redis, endpoint):
            enqueue(state.redis, delivery.id, _bump(delivery), utcnow() + dt.timedelta(seconds=random.uniform(1, 3)))
            return "endpoint busy: deferred"
    try:
        result = attempt(state, delivery, endpoint)
    finally:
        _release_slot(state.redis, endpoint.id)
    with db.connection_context():
        status = deliveries.record(delivery, step, result)
        if status == PENDING:
            fresh = WebhookDelivery.get_by_id(delivery.id)
            enqueue(state.redis, fresh.id, fresh.step, fresh.next_attempt_at)
    return f"attempt {delivery.attempts + 1}: {status}"


def reconcile(limit: int = 5000) -> int:
    """Re-enqueue every pending delivery whose job is gone (Redis lost it, a worker died); returns how many."""
    state = runtime()
    enqueued = 0
    with db.connection_context():
        rows = list(WebhookDelivery.select().where(WebhookDelivery.status == PENDING)
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
        for delivery in rows:
            if queue.job_alive(state.redis, job_id(delivery.id, delivery.step)):
                continue
            if enqueue(state.redis, delivery.id, _bump(delivery), delivery.next_attempt_at):
                enqueued += 1
    if enqueued:
        log.info("re-enqueued %s webhook deliveries", enqueued)
    return enqueued
